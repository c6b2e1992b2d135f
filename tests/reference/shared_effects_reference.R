# Group effects correlated across a categorical response's linear predictors, brms's `(1 | p | g)`: the reference
# of tests/end_to_end/test_shared_effects.py. Run from the repository root:
#   Rscript tests/reference/shared_effects_reference.R
# Writes tests/reference/shared_categorical.csv and tests/reference/shared_effects.json. R 4.2.2, brms 2.18
# (Debian's r-cran-* packages), brms's default priors (flat b, student_t(3, 0, 2.5) on intercepts and SDs,
# lkj(1)), 4 chains x (1000 + 1000), seed 1.
#  * categorical: y in {a, b, c} (reference a), 60 groups x 20 rows; mu_b = 0.3 + 0.8 x + u_b[g],
#    mu_c = -0.4 - 0.6 x + u_c[g], (u_b, u_c) bivariate normal with SDs 1.0 and 0.8 and correlation 0.6;
#    brm(y ~ x + (1 | p | g), family = categorical()).
suppressPackageStartupMessages({library(brms); library(jsonlite)})

summarise <- function(fit) {
  s <- posterior::summarise_draws(posterior::as_draws_df(fit), "mean", "sd",
                                  ~quantile(.x, probs = c(0.025, 0.975)), "rhat", "ess_bulk")
  s <- s[!grepl("^(r_|lp__|lprior|Intercept|z_)", s$variable), ]
  names(s) <- c("variable", "mean", "sd", "q2.5", "q97.5", "rhat", "ess_bulk")
  s
}
correlated <- function(n, sds, rho) {
  chol_cor <- chol(matrix(c(1, rho, rho, 1), 2))
  matrix(rnorm(2 * n), n, 2) %*% chol_cor %*% diag(sds)
}
divergences <- function(fit) {
  nuts <- nuts_params(fit)
  sum(nuts$Value[nuts$Parameter == "divergent__"])
}

set.seed(20240715)
n_groups <- 60; per_group <- 20
cat_truth <- list(b = list(mub_Intercept = 0.3, mub_x = 0.8, muc_Intercept = -0.4, muc_x = -0.6),
                  sd = list(mub_Intercept = 1.0, muc_Intercept = 0.8), cor = 0.6)
g <- rep(seq_len(n_groups), each = per_group)
x <- rnorm(length(g))
u <- correlated(n_groups, c(cat_truth$sd$mub_Intercept, cat_truth$sd$muc_Intercept), cat_truth$cor)
eta_b <- cat_truth$b$mub_Intercept + cat_truth$b$mub_x * x + u[g, 1]
eta_c <- cat_truth$b$muc_Intercept + cat_truth$b$muc_x * x + u[g, 2]
p <- cbind(1, exp(eta_b), exp(eta_c)); p <- p / rowSums(p)
y <- apply(p, 1, function(row) sample(c("a", "b", "c"), 1, prob = row))
cat_sim <- data.frame(y = y, x = round(x, 6), g = paste0("g", g))
write.csv(cat_sim, "tests/reference/shared_categorical.csv", row.names = FALSE)
cat_sim$y <- factor(cat_sim$y, levels = c("a", "b", "c"))
start <- Sys.time()
brm_cat <- brm(y ~ x + (1 | p | g), data = cat_sim, family = categorical(), chains = 4, iter = 2000, warmup = 1000,
               seed = 1, cores = 1, refresh = 0)
cat_seconds <- as.numeric(difftime(Sys.time(), start, units = "secs"))

out <- list(
  generated_by = "tests/reference/shared_effects_reference.R",
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."), brms = as.character(packageVersion("brms"))),
  categorical = list(formula = "y ~ x + (1 | p | g)", levels = c("a", "b", "c"), truth = cat_truth,
                     brms = list(summary = summarise(brm_cat), wall_seconds = cat_seconds,
                                 divergences = divergences(brm_cat))))
write_json(out, "tests/reference/shared_effects.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
print(out$categorical$brms$summary)
