# Reference fits of censored and truncated responses for tests/end_to_end/test_censoring_reference.py.
# Run from the repository root:  Rscript tests/reference/censoring_reference.R   (about 8 minutes: 4 brm compiles)
# Writes tests/reference/censoring.json and the data it fits, tests/reference/censoring_*.csv.
# R 4.2.2, brms 2.18.0 (Debian's r-cran-brms), rstan 2.21; brm(..., chains = 4, iter = 3000, warmup = 1000,
# seed = 1, cores = 1) with the priors written in the JSON (the same ones the tests give bayesmm).
#
# 1. kidney (brms's data set: recurrence times of infection in 38 kidney patients, 2 each; 18 of 76 right-censored):
#    time | cens(censored) ~ age + sex + (1 | patient), weibull.
# 2. a detection limit: y = 2 + x + u_g + e (u_g ~ N(0, 0.7), e ~ N(0, 1)), 30 groups x 8 rows, every value below
#    1.5 reported as "left"-censored at 1.5: y | cens(censored) ~ x + (1 | g), gaussian; the truth and brms.
# 3. truncation: y = 0.5 + 0.8 x + u_g + e (u_g ~ N(0, 0.5), e ~ N(0, 1)) observed only where y > 0 (drawn by
#    rejection), 25 groups x 10 rows: y | trunc(lb = 0) ~ x + (1 | g), gaussian; the truth and brms.
# 4. zero-truncated counts: y ~ Poisson(exp(0.3 + 0.5 x + u_g)) (u_g ~ N(0, 0.4)) observed only where y >= 1,
#    25 groups x 10 rows: y | trunc(lb = 1) ~ x + (1 | g), poisson; the truth and brms.
suppressMessages({
  library(brms)
  library(posterior)
  library(jsonlite)
})
out_dir <- file.path("tests", "reference")

summarise <- function(fit) {
  draws <- as_draws_df(fit)
  keep <- grep("^(b_|sd_|sigma$|shape$)", variables(draws), value = TRUE)
  s <- summarise_draws(subset_draws(draws, variable = keep), "mean", "sd",
                       ~quantile(.x, probs = c(0.025, 0.975)), "rhat", "ess_bulk", "ess_tail")
  list(summary = s, divergences = sum(nuts_params(fit, pars = "divergent__")$Value))
}

fit_brms <- function(formula, data, family, priors) {
  start <- Sys.time()
  fit <- brm(formula, data = data, family = family, prior = priors, chains = 4, iter = 3000, warmup = 1000,
             seed = 1, cores = 1, refresh = 0)
  c(summarise(fit), list(wall_seconds = as.numeric(difftime(Sys.time(), start, units = "secs"))))
}

with_groups <- function(n_groups, per_group) {
  g <- rep(seq_len(n_groups), each = per_group)
  list(g = g, x = rnorm(length(g)))
}

# 1. kidney, weibull, right-censored ----------------------------------------------------------------------------
data(kidney, package = "brms")
kidney <- kidney[, c("time", "censored", "patient", "age", "sex")]
write.csv(kidney, file.path(out_dir, "censoring_kidney.csv"), row.names = FALSE)
kidney_priors <- c(prior(student_t(3, 4.5, 2.5), class = Intercept), prior(normal(0, 2), class = b),
                   prior(student_t(3, 0, 2.5), class = sd), prior(lognormal(0, 1), class = shape))
kidney_fit <- fit_brms(time | cens(censored) ~ age + sex + (1 | patient), kidney, weibull(), kidney_priors)

gaussian_priors <- c(prior(student_t(3, 2, 2.5), class = Intercept), prior(normal(0, 5), class = b),
                     prior(student_t(3, 0, 2.5), class = sd), prior(student_t(3, 0, 2.5), class = sigma))

# 2. detection limit -----------------------------------------------------------------------------------------------
set.seed(2)
d <- with_groups(30, 8)
latent <- 2 + 1 * d$x + rnorm(30, 0, 0.7)[d$g] + rnorm(length(d$g), 0, 1)
limit <- 1.5
detection <- data.frame(y = pmax(latent, limit), censored = ifelse(latent < limit, "left", "none"), x = d$x,
                        g = d$g)
write.csv(detection, file.path(out_dir, "censoring_detection.csv"), row.names = FALSE)
detection_fit <- fit_brms(y | cens(censored) ~ x + (1 | g), detection, gaussian(), gaussian_priors)

# 3. truncated gaussian, lb = 0 ------------------------------------------------------------------------------------
set.seed(3)
d <- with_groups(25, 10)
mu <- 0.5 + 0.8 * d$x + rnorm(25, 0, 0.5)[d$g]
y <- rnorm(length(mu), mu, 1)
while (any(y <= 0)) {
  redraw <- y <= 0
  y[redraw] <- rnorm(sum(redraw), mu[redraw], 1)
}
truncated <- data.frame(y = y, x = d$x, g = d$g)
write.csv(truncated, file.path(out_dir, "censoring_truncated.csv"), row.names = FALSE)
truncated_fit <- fit_brms(y | trunc(lb = 0) ~ x + (1 | g), truncated, gaussian(), gaussian_priors)

# 4. zero-truncated poisson ---------------------------------------------------------------------------------------
set.seed(4)
d <- with_groups(25, 10)
rate <- exp(0.3 + 0.5 * d$x + rnorm(25, 0, 0.4)[d$g])
y <- rpois(length(rate), rate)
while (any(y == 0)) {
  redraw <- y == 0
  y[redraw] <- rpois(sum(redraw), rate[redraw])
}
zero_truncated <- data.frame(y = y, x = d$x, g = d$g)
write.csv(zero_truncated, file.path(out_dir, "censoring_zero_truncated.csv"), row.names = FALSE)
count_priors <- c(prior(student_t(3, 0, 2.5), class = Intercept), prior(normal(0, 5), class = b),
                  prior(student_t(3, 0, 2.5), class = sd))
zero_truncated_fit <- fit_brms(y | trunc(lb = 1) ~ x + (1 | g), zero_truncated, poisson(), count_priors)

result <- list(
  engine = paste("brms", as.character(packageVersion("brms"))),
  kidney_weibull = c(list(
    data = "censoring_kidney.csv", formula = "time | cens(censored) ~ age + sex + (1 | patient)", family = "weibull",
    factors = list(sex = c("male", "female")),
    priors = list(Intercept = "student_t(3, 4.5, 2.5)", b = "normal(0, 2)", sd = "half_student_t(3, 2.5)",
                  shape = "lognormal(0, 1)")), kidney_fit),
  detection_limit = c(list(
    data = "censoring_detection.csv", formula = "y | cens(censored) ~ x + (1 | g)", family = "gaussian",
    limit = limit, truth = list(Intercept = 2, x = 1, sd_g = 0.7, sigma = 1),
    priors = list(Intercept = "student_t(3, 2, 2.5)", b = "normal(0, 5)", sd = "half_student_t(3, 2.5)",
                  sigma = "half_student_t(3, 2.5)")), detection_fit),
  truncated_gaussian = c(list(
    data = "censoring_truncated.csv", formula = "y | trunc(lb = 0) ~ x + (1 | g)", family = "gaussian",
    truth = list(Intercept = 0.5, x = 0.8, sd_g = 0.5, sigma = 1),
    priors = list(Intercept = "student_t(3, 2, 2.5)", b = "normal(0, 5)", sd = "half_student_t(3, 2.5)",
                  sigma = "half_student_t(3, 2.5)")), truncated_fit),
  zero_truncated_poisson = c(list(
    data = "censoring_zero_truncated.csv", formula = "y | trunc(lb = 1) ~ x + (1 | g)", family = "poisson",
    truth = list(Intercept = 0.3, x = 0.5, sd_g = 0.4),
    priors = list(Intercept = "student_t(3, 0, 2.5)", b = "normal(0, 5)", sd = "half_student_t(3, 2.5)")),
    zero_truncated_fit)
)
write_json(result, file.path(out_dir, "censoring.json"), auto_unbox = TRUE, digits = 8, pretty = TRUE)
