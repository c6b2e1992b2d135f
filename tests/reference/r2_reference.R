# Reference R² values for tests/answers/test_r2.py.
# Run from the repository root:  Rscript tests/reference/r2_reference.R
# Writes tests/reference/r2.json. R 4.2.2, lme4 1.1-31, glmmTMB 1.1.5, performance 0.10.2, insight 0.19.0
# (Debian's r-cran-* packages).
#
# Per model: performance::r2_nakagawa (marginal, conditional) and insight::get_variance's components at the
# ML (REML) estimates, plus what bayesmm's approximation of the null model would give at the same estimates:
# for log links performance takes lambda = exp(intercept of the null model, refitted with the random part
# only); bayesmm takes lambda = exp(mean over the rows of X b) instead (no refit), so the JSON keeps both the
# null model's intercept and mean(X b), and R² with each.
#
# Bayesian R²: brms (2.18) could not be installed here, so bayes_R2 is computed with brms 2.18's own formula
# (.bayes_R2 in R/bayes_R2.R: per draw var(ypred) / (var(ypred) + var(y - ypred)), ypred = posterior_epred)
# on 4000 draws of (fixed effects, random effects) from their exact Gaussian posterior given lmer's REML
# variance parameters (flat prior on the fixed effects): an empirical-Bayes stand-in for brm's draws that
# leaves out the variance parameters' uncertainty.
suppressMessages({
  library(lme4)
  library(glmmTMB)
  library(performance)
  library(jsonlite)
})

read_data <- function(name, factors) {
  frame <- read.csv(file.path("bayesmm", "datasets", paste0(name, ".csv")))
  for (f in factors) frame[[f]] <- factor(frame[[f]])
  frame
}

fixed_part <- function(model) {
  if (inherits(model, "glmmTMB")) {
    drop(model.matrix(model) %*% fixef(model)$cond)
  } else {
    drop(getME(model, "X") %*% fixef(model))
  }
}

null_intercept <- function(model) {
  null <- suppressWarnings(insight::null_model(model))
  fe <- fixef(null)
  unname(if (is.list(fe)) fe$cond[1] else fe[1])
}

# the estimates, for evaluating bayesmm's per-draw R² at them: fixed effects, per group the SDs and the
# correlation matrix, sigma (gaussian) or theta (NB2), and for zero-inflated models the zi coefficients and
# the random intercepts' conditional modes
estimates <- function(model) {
  tmb <- inherits(model, "glmmTMB")
  vc <- if (tmb) VarCorr(model)$cond else VarCorr(model)
  groups <- lapply(vc, function(block) {
    sds <- attr(block, "stddev")
    names(sds) <- sub("^\\(Intercept\\)$", "Intercept", names(sds))
    list(sd = as.list(sds), cor = unname(as.matrix(if (length(sds) > 1) attr(block, "correlation") else 1)))
  })
  fe <- if (tmb) fixef(model)$cond else fixef(model)
  out <- list(fixef = as.list(fe), groups = groups, sigma = sigma(model))
  if (tmb && length(fixef(model)$zi)) {
    out$zi_fixef <- as.list(fixef(model)$zi)
    modes <- ranef(model)$cond
    out$ranef <- lapply(modes, function(block) setNames(as.list(block[[1]]), rownames(block)))
  }
  out
}

# r2_nakagawa and its parts; for log links also the null model's intercept, mean(X b) and R² with
# lambda = exp(mean(X b)) (what bayesmm computes per draw)
nakagawa <- function(model, formula, family, lambda_form = NULL) {
  r2 <- suppressWarnings(r2_nakagawa(model))
  v <- suppressWarnings(insight::get_variance(model))
  out <- list(formula = formula, family = family,
              marginal = unname(r2$R2_marginal), conditional = unname(r2$R2_conditional),
              var_fixed = v$var.fixed, var_random = if (is.null(v$var.random)) 0 else v$var.random,
              var_distribution = v$var.distribution, var_dispersion = v$var.dispersion,
              estimates = estimates(model))
  if (!is.null(lambda_form)) {
    eta <- fixed_part(model)
    out$null_intercept <- null_intercept(model)
    out$mean_fixed_part <- mean(eta)
    dist <- lambda_form(exp(mean(eta)))
    residual <- dist + v$var.dispersion
    total <- v$var.fixed + out$var_random + residual
    out$approximation <- list(var_distribution = dist, marginal = v$var.fixed / total,
                              conditional = (v$var.fixed + out$var_random) / total)
  }
  out
}

out <- list(generated_by = "tests/reference/r2_reference.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            glmmTMB = as.character(packageVersion("glmmTMB")),
                            performance = as.character(packageVersion("performance")),
                            insight = as.character(packageVersion("insight"))))

# ---- sleepstudy, gaussian with a correlated random slope: REML and ML, and the Bayesian R² stand-in
sleep <- read_data("sleepstudy", "Subject")
form <- "Reaction ~ Days + (Days | Subject)"
reml <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = TRUE)
ml <- lmer(Reaction ~ Days + (Days | Subject), sleep, REML = FALSE)
out$sleepstudy <- list(REML = nakagawa(reml, form, "gaussian"), ML = nakagawa(ml, form, "gaussian"))

bayes_r2_formula <- function(y, ypred) {  # brms 2.18, R/bayes_R2.R: .bayes_R2
  e <- -1 * sweep(ypred, 2, y)
  var_ypred <- apply(ypred, 1, var)
  var_e <- apply(e, 1, var)
  var_ypred / (var_ypred + var_e)
}
set.seed(1)
X <- getME(reml, "X")
Z <- as.matrix(getME(reml, "Z"))
C <- cbind(X, Z)
sigma <- sigma(reml)
Lambda <- as.matrix(t(getME(reml, "Lambdat")))
G <- sigma^2 * Lambda %*% t(Lambda)
precision <- crossprod(C) / sigma^2
random <- ncol(X) + seq_len(ncol(Z))
precision[random, random] <- precision[random, random] + solve(G)
covariance <- solve(precision)
centre <- drop(covariance %*% crossprod(C, sleep$Reaction) / sigma^2)
stopifnot(max(abs(centre[seq_len(ncol(X))] - fixef(reml))) < 1e-6)
n_draws <- 4000
draws <- matrix(rnorm(n_draws * ncol(C)), n_draws) %*% chol(covariance)
draws <- sweep(draws, 2, centre, "+")
ypred <- draws %*% t(C)
bayes <- bayes_r2_formula(sleep$Reaction, ypred)
out$sleepstudy$bayes <- list(
  method = paste("brms 2.18's .bayes_R2 formula on 4000 draws of (b, u) from their Gaussian posterior given",
                 "lmer's REML variance parameters (brms could not be installed)"),
  estimate = mean(bayes), sd = sd(bayes), quantiles = unname(quantile(bayes, c(0.025, 0.975))),
  plug_in = bayes_r2_formula(sleep$Reaction, t(fitted(reml)))[1])

# ---- grouseticks, poisson with two crossed intercepts; and with the observation-level effect (1 | INDEX),
# whose variance insight counts in the residual (dispersion) part
ticks <- read_data("grouseticks", c("INDEX", "BROOD", "YEAR", "LOCATION"))
poisson_lambda <- function(lambda) log1p(1 / lambda)
m <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION), ticks, family = poisson)
out$grouseticks <- nakagawa(m, "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | LOCATION)", "poisson",
                            poisson_lambda)
m <- suppressWarnings(glmer(TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION), ticks,
                            family = poisson))
out$grouseticks_olre <- nakagawa(m, "TICKS ~ YEAR + cHEIGHT + (1 | BROOD) + (1 | INDEX) + (1 | LOCATION)",
                                 "poisson", poisson_lambda)

# ---- salamanders, negative binomial (glmmTMB nbinom2: theta = sigma(model)); zero-inflated Poisson
sal <- read_data("salamanders", c("site", "mined", "spp"))
m <- glmmTMB(count ~ spp * mined + (1 | site), sal, family = nbinom2)
theta <- sigma(m)
out$salamanders_nb2 <- nakagawa(m, "count ~ spp * mined + (1 | site)", "negbinomial",
                                function(lambda) log1p(1 / lambda + 1 / theta))
out$salamanders_nb2$theta <- theta

# ZIP: insight's distribution variance is mean over rows of (1 - p)(mu + p mu^2) / lambda^2 (p: the
# zero-inflation probability, mu: the conditional mean with the random effects)
m <- glmmTMB(count ~ spp + mined + (1 | site), sal, family = poisson, ziformula = ~mined)
p <- predict(m, type = "zprob")
mu <- predict(m, type = "conditional")
zip_variance <- mean((1 - p) * (mu + p * mu^2))
out$salamanders_zip <- nakagawa(m, "count ~ spp + mined + (1 | site)", "zero_inflated_poisson",
                                function(lambda) log1p(zip_variance / lambda^2))
out$salamanders_zip$zi_formula <- "~ mined"

# ---- cbpp, binomial with trials (logit: pi^2 / 3)
cbpp <- read_data("cbpp", c("herd", "period"))
m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
out$cbpp <- nakagawa(m, "cbind(incidence, size - incidence) ~ period + (1 | herd)", "binomial")

writeLines(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), file.path("tests", "reference", "r2.json"))
