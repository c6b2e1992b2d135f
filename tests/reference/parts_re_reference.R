# Reference fits with random effects in the distributional parts, for tests/end_to_end/test_parts_random.py.
# Run from the repository root:  Rscript tests/reference/parts_re_reference.R
# Writes tests/reference/parts_re.json and tests/reference/parts_re_gaussian.csv.
# R 4.2.2, glmmTMB 1.1.5, brms 2.18.0 (Debian's r-cran-* packages).
#
# * salamanders (bayesmm/datasets/salamanders.csv; site, spp and mined as factors): count ~ spp * mined + (1 | site)
#   with ziformula = ~ spp + (1 | site), poisson and nbinom2 (glmmTMB, maximum likelihood, Laplace).
#   The NB2 model's zero process is weakly identified (species-specific zero inflation with site effects of SD
#   about 2): its posterior depends on the prior of the zi coefficients, so it is also fitted by brms with
#   prior(normal(0, 2.5), class = b, dpar = zi) (4 chains of 1000 warmup + 1000 draws, seed 1), the prior the
#   test gives bayesmm's fit.
# * a heteroscedastic gaussian simulated here (set.seed(20240611)): 40 groups of 15 rows,
#   y = 2 + 0.8 x + u_g + e, u_g ~ N(0, 0.6^2), e ~ N(0, sigma^2), log sigma = -0.3 + 0.4 x + v_g, v_g ~ N(0, 0.5^2).
#   glmmTMB 1.1.5 refuses random effects in dispformula ("no random effects allowed in dispersion term"; they came
#   in glmmTMB 1.1.10), so this model's reference is brms: bf(y ~ x + (1 | g), sigma ~ x + (1 | g)), 4 chains of
#   1000 warmup + 1000 draws, seed 1, brms's default priors; the JSON keeps the simulated truth too.
suppressMessages({
  library(glmmTMB)
  library(jsonlite)
})

sal <- read.csv("bayesmm/datasets/salamanders.csv")
for (f in c("site", "spp", "mined")) sal[[f]] <- factor(sal[[f]])
sal$spp <- factor(sal$spp, levels = sort(unique(as.character(sal$spp))))
sal$mined <- factor(sal$mined, levels = c("no", "yes"))

vc_sd <- function(vc) lapply(vc, function(v) list(sd = as.list(attr(v, "stddev"))))

salamanders_case <- function(family, label) {
  seconds <- system.time(m <- glmmTMB(count ~ spp * mined + (1 | site), ziformula = ~ spp + (1 | site),
                                      family = family, data = sal))[["elapsed"]]
  v <- vcov(m)
  list(
    formula = "count ~ spp * mined + (1 | site)", zi = "~ spp + (1 | site)", family = label,
    engine = paste("glmmTMB", packageVersion("glmmTMB")), n = nrow(sal),
    fixef = as.list(fixef(m)$cond), se = as.list(sqrt(diag(v$cond))),
    zi_fixef = as.list(fixef(m)$zi),
    zi_se = as.list(setNames(sqrt(diag(v$zi)), names(fixef(m)$zi))),
    varcorr = vc_sd(VarCorr(m)$cond), zi_varcorr = vc_sd(VarCorr(m)$zi),
    dispersion = if (label == "zero_inflated_negbinomial") sigma(m) else NULL,
    logLik = as.numeric(logLik(m)), pdHess = m$sdr$pdHess, seconds = seconds
  )
}

out <- list(
  salamanders_zip = salamanders_case(poisson(), "zero_inflated_poisson"),
  salamanders_zinb = salamanders_case(nbinom2(), "zero_inflated_negbinomial")
)

set.seed(20240611)
n_groups <- 40
per_group <- 15
truth <- list(Intercept = 2, x = 0.8, sd_g = 0.6, sigma_Intercept = -0.3, sigma_x = 0.4, sd_g_sigma = 0.5)
g <- rep(seq_len(n_groups), each = per_group)
x <- rnorm(n_groups * per_group)
u <- rnorm(n_groups, 0, truth$sd_g)
v <- rnorm(n_groups, 0, truth$sd_g_sigma)
sigma <- exp(truth$sigma_Intercept + truth$sigma_x * x + v[g])
y <- truth$Intercept + truth$x * x + u[g] + rnorm(length(x), 0, sigma)
gaussian_data <- data.frame(y = y, x = x, g = paste0("g", g))
write.csv(gaussian_data, "tests/reference/parts_re_gaussian.csv", row.names = FALSE)

gaussian_case <- list(formula = "y ~ x + (1 | g)", dispersion = "~ x + (1 | g)", family = "gaussian",
                      data = "tests/reference/parts_re_gaussian.csv", seed = 20240611, truth = truth,
                      u = u, v = v)
tmb <- try(glmmTMB(y ~ x + (1 | g), dispformula = ~ x + (1 | g), data = gaussian_data), silent = TRUE)
gaussian_case$glmmTMB <- if (inherits(tmb, "try-error")) trimws(as.character(tmb)) else "fitted"
if (requireNamespace("brms", quietly = TRUE)) {
  suppressMessages(library(brms))
  seconds <- system.time(fit <- brm(bf(y ~ x + (1 | g), sigma ~ x + (1 | g)), data = gaussian_data,
                                    family = gaussian(), chains = 4, iter = 2000, warmup = 1000, seed = 1,
                                    cores = 2, refresh = 0))[["elapsed"]]
  draws <- as.data.frame(as_draws_df(fit))
  keep <- c("b_Intercept", "b_x", "b_sigma_Intercept", "b_sigma_x", "sd_g__Intercept", "sd_g__sigma_Intercept")
  gaussian_case$brms <- list(
    engine = paste("brms", packageVersion("brms")), wall_seconds = seconds,
    divergences = sum(nuts_params(fit)$Value[nuts_params(fit)$Parameter == "divergent__"]),
    summary = lapply(setNames(keep, keep), function(p) {
      d <- draws[[p]]
      list(mean = mean(d), sd = sd(d), q2.5 = unname(quantile(d, 0.025)), q97.5 = unname(quantile(d, 0.975)))
    }))
}
out$gaussian_disp <- gaussian_case
if (requireNamespace("brms", quietly = TRUE)) {
  seconds <- system.time(fit <- brm(bf(count ~ spp * mined + (1 | site), zi ~ spp + (1 | site)), data = sal,
                                    family = zero_inflated_negbinomial(), chains = 4, iter = 2000, warmup = 1000,
                                    seed = 1, cores = 2, refresh = 0,
                                    prior = prior(normal(0, 2.5), class = b, dpar = zi)))[["elapsed"]]
  draws <- as.data.frame(as_draws_df(fit))
  keep <- grep("^(b_|sd_|shape$)", names(draws), value = TRUE)
  out$salamanders_zinb$brms <- list(
    engine = paste("brms", packageVersion("brms")), wall_seconds = seconds,
    prior_zi = "prior(normal(0, 2.5), class = b, dpar = zi)",
    divergences = sum(nuts_params(fit)$Value[nuts_params(fit)$Parameter == "divergent__"]),
    summary = lapply(setNames(keep, keep), function(p) {
      d <- draws[[p]]
      list(mean = mean(d), sd = sd(d), q2.5 = unname(quantile(d, 0.025)), q97.5 = unname(quantile(d, 0.975)))
    }))
}
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE, null = "null"), "tests/reference/parts_re.json")
