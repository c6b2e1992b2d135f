# brms 2.18's bayes_R2 for families whose R² is the Bayesian one alone or a bayesmm rule, the reference of
# tests/answers/test_r2_families.py. Run from the repository root: Rscript tests/reference/r2_families_reference.R
# Writes tests/reference/r2_families.csv (one simulated data set: 300 rows, 20 groups; x ~ N(0, 1)) and
# tests/reference/r2_families.json: for each model brms's default priors, 4 chains x (1000 + 1000), seed 1,
# bayes_R2's estimate, est_error and 95% interval.
#  * zero_inflated_binomial: successes of 10 trials, logit p = -0.3 + 0.8 x + u[g] (u ~ N(0, 0.5^2)), zi = 0.2;
#  * zero_one_inflated_beta: logit mu = 0.2 + 0.7 x + u[g], phi = 6, zoi = 0.15, coi = 0.4;
#  * hurdle_gamma: log mu = 0.5 + 0.6 x + u[g], shape = 3, hu = 0.25.
suppressPackageStartupMessages({library(brms); library(jsonlite)})
set.seed(20240716)
n_groups <- 20; per_group <- 15
g <- rep(seq_len(n_groups), each = per_group)
n <- length(g)
x <- round(rnorm(n), 6)
u <- rnorm(n_groups, 0, 0.5)[g]
trials <- rep(10L, n)
successes <- ifelse(runif(n) < 0.2, 0L, rbinom(n, trials, plogis(-0.3 + 0.8 * x + u)))
mu <- plogis(0.2 + 0.7 * x + u)
proportion <- rbeta(n, mu * 6, (1 - mu) * 6)
one_inflated <- runif(n) < 0.15
proportion[one_inflated] <- as.numeric(runif(sum(one_inflated)) < 0.4)
amount <- ifelse(runif(n) < 0.25, 0, rgamma(n, shape = 3, rate = 3 / exp(0.5 + 0.6 * x + u)))
data <- data.frame(successes = successes, trials = trials, proportion = round(proportion, 8),
                   amount = round(amount, 8), x = x, g = paste0("g", g))
write.csv(data, "tests/reference/r2_families.csv", row.names = FALSE)

models <- list(
  zero_inflated_binomial = list(formula = successes | trials(trials) ~ x + (1 | g), family = zero_inflated_binomial(),
                                bayesmm = "p(successes, trials) ~ x + (1 | g)"),
  zero_one_inflated_beta = list(formula = proportion ~ x + (1 | g), family = zero_one_inflated_beta(),
                                bayesmm = "proportion ~ x + (1 | g)"),
  hurdle_gamma = list(formula = amount ~ x + (1 | g), family = hurdle_gamma(), bayesmm = "amount ~ x + (1 | g)"))
out <- list(generated_by = "tests/reference/r2_families_reference.R",
            versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                            brms = as.character(packageVersion("brms"))))
for (name in names(models)) {
  m <- models[[name]]
  fit <- brm(m$formula, data = data, family = m$family, chains = 4, iter = 2000, warmup = 1000, seed = 1, cores = 1,
             refresh = 0)
  r2 <- bayes_R2(fit)
  out[[name]] <- list(formula = m$bayesmm, bayes_R2 = list(estimate = unname(r2[1, "Estimate"]),
                                                           est_error = unname(r2[1, "Est.Error"]),
                                                           q2.5 = unname(r2[1, "Q2.5"]), q97.5 = unname(r2[1, "Q97.5"])),
                      fixef = as.list(fixef(fit)[, "Estimate"]))
  print(name); print(r2)
}
write_json(out, "tests/reference/r2_families.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
