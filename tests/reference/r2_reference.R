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
# Bayesian R²: brm's own bayes_R2 is in r2_brms.json (tests/reference/r2_brms.R); here bayes_R2 is also computed
# with brms 2.18's own formula
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
    # glmmTMB's zi of a truncated (hurdle) family is P(y = 0): bayesmm's hu
    part <- if (startsWith(family(model)$family, "truncated")) "hu_fixef" else "zi_fixef"
    out[[part]] <- as.list(fixef(model)$zi)
    modes <- ranef(model)$cond
    out$ranef <- lapply(modes, function(block) setNames(as.list(block[[1]]), rownames(block)))
  }
  out
}

# r2_nakagawa and its parts; for log links also the null model's intercept, mean(X b) and R² with
# lambda = exp(mean(X b)) (what bayesmm computes per draw)
# eta_form: the distribution variance as a function of the typical linear predictor eta0, bayesmm's rule where
# it departs from insight's; evaluated at eta0 = mean(X b) ('approximation') and at the null model's intercept
# ('null_approximation'). aux: the family parameters in bayesmm's names.
nakagawa <- function(model, formula, family, lambda_form = NULL, eta_form = NULL, aux = NULL) {
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
  if (!is.null(eta_form)) {
    out$mean_fixed_part <- mean(fixed_part(model))
    out$null_intercept <- null_intercept(model)
    shares <- function(eta0) {
      dist <- eta_form(eta0)
      total <- v$var.fixed + out$var_random + dist + v$var.dispersion
      list(var_distribution = dist, marginal = v$var.fixed / total,
           conditional = (v$var.fixed + out$var_random) / total)
    }
    out$approximation <- shares(out$mean_fixed_part)
    out$null_approximation <- shares(out$null_intercept)
  }
  if (!is.null(aux)) out$estimates$aux <- aux
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

# ---- families beyond insight's counts and binomials. Where insight 0.19.0's rule is on the wrong scale (or
# evaluated at the wrong mean), 'approximation' holds bayesmm's rule at the same estimates and performance's own
# value stays in 'marginal'/'conditional' for the record (see bayesmm/answers/r2.py's docstring).

# Gamma, log link: insight takes family(x)$variance(sigma) = sigma^2 = 1 / shape (glmmTMB's sigma is the CV):
# the delta method for var(log y), as bayesmm
m <- glmmTMB(Reaction ~ Days + (1 | Subject), sleep, family = Gamma(link = "log"))
out$gamma_log <- nakagawa(m, "Reaction ~ Days + (1 | Subject)", "gamma", aux = list(shape = 1 / sigma(m)^2))

# Gamma, inverse link (Reaction in 100 ms, where glmmTMB converges): insight again takes 1 / shape, the CV^2 of
# the log scale, on the 1/y scale; bayesmm the delta method on the link scale: var(y) g'(mu)^2 =
# (mu^2 / shape) / mu^4 = eta0^2 / shape
sleep$Reaction100 <- sleep$Reaction / 100
m <- glmmTMB(Reaction100 ~ Days + (1 | Subject), sleep, family = Gamma(link = "inverse"))
shape <- 1 / sigma(m)^2
out$gamma_inverse <- nakagawa(m, "Reaction100 ~ Days + (1 | Subject)", "gamma",
                              eta_form = function(eta0) eta0^2 / shape, aux = list(shape = shape))

# lognormal: no glmmTMB family in 1.1.5; bayesmm's lognormal is a gaussian model of log(y), so lmer on log(y)
# (REML), whose distribution variance is sigma^2
sleep$logReaction <- log(sleep$Reaction)
m <- lmer(logReaction ~ Days + (1 | Subject), sleep)
out$lognormal <- nakagawa(m, "Reaction ~ Days + (1 | Subject)", "lognormal")

# student_t: insight's model_info does not count glmmTMB's t family as linear, so its distribution variance
# falls to the last branch, sigma (not squared); bayesmm takes sigma^2 (insight's gaussian rule)
m <- glmmTMB(Reaction ~ Days + (1 | Subject), sleep, family = t_family)
sig <- sigma(m)
out$student_t <- nakagawa(m, "Reaction ~ Days + (1 | Subject)", "student_t", eta_form = function(eta0) sig^2,
                          aux = list(sigma = sig, nu = unname(family_params(m))))

# gaussian, log link: insight takes sigma^2 on the response scale beside variances on the log scale; bayesmm
# the lognormal approximation log(1 + sigma^2 / mu^2), mu = exp(eta0)
m <- glmmTMB(Reaction ~ Days + (1 | Subject), sleep, family = gaussian(link = "log"))
sig <- sigma(m)
out$gaussian_log <- nakagawa(m, "Reaction ~ Days + (1 | Subject)", "gaussian",
                             eta_form = function(eta0) log1p(sig^2 / exp(2 * eta0)), aux = list(sigma = sig))

# beta, logit link, on simulated data (written to tests/reference/r2_beta.csv): insight 0.19.0 takes
# log(1 + var / mu^2) with var = mu (1 - mu) / (1 + phi) and mu = exp(null model's intercept) (not its inverse
# logit); bayesmm the variance of logit(y) for y ~ Beta(mu phi, (1 - mu) phi) at mu = plogis(eta0), exactly
# trigamma(mu phi) + trigamma((1 - mu) phi)
set.seed(11)
n_groups <- 30
per_group <- 10
g <- rep(seq_len(n_groups), each = per_group)
x <- rnorm(n_groups * per_group)
eta <- -0.6 + 0.8 * x + rnorm(n_groups, 0, 0.5)[g]
mu <- plogis(eta)
beta_data <- data.frame(y = rbeta(length(mu), mu * 20, (1 - mu) * 20), x = x, g = sprintf("g%02d", g))
write.csv(beta_data, file.path("tests", "reference", "r2_beta.csv"), row.names = FALSE)
beta_data$g <- factor(beta_data$g)
m <- glmmTMB(y ~ x + (1 | g), beta_data, family = beta_family())
phi <- sigma(m)
out$beta <- nakagawa(m, "y ~ x + (1 | g)", "beta",
                     eta_form = function(eta0) trigamma(plogis(eta0) * phi) + trigamma(plogis(-eta0) * phi),
                     aux = list(phi = phi))
out$beta$truth <- list(intercept = -0.6, slope = 0.8, sd_g = 0.5, phi = 20)

# hurdle Poisson and hurdle NB2 (glmmTMB's truncated families, ziformula: P(y = 0), bayesmm's hu). insight
# 0.19.0 takes log(1 + v / lambda^2), lambda = exp(null intercept), with v the zero-truncated variance: for
# truncated_poisson family(x)$variance(sigma) with sigma = 1, the truncated Poisson variance at 1 whatever the
# counts; for truncated_nbinom2 at (lambda, theta). bayesmm takes, as insight's zero-inflated rule, v = the mean
# over the rows of the hurdle model's variance (mu: exp of the conditional linear predictor with the random
# effects' modes, p = 1 - P(y = 0), P0 = the untruncated distribution's P(0), q = p / (1 - P0)):
# q E[Y^2] - (q mu)^2, E[Y^2] = mu + mu^2 (Poisson), mu + mu^2 (1 + 1/theta) (NB2)
hurdle_variance <- function(model, second_moment, zero) {
  mu <- exp(predict(model, type = "link"))
  p <- 1 - predict(model, type = "zprob")
  q <- p / (1 - zero(mu))
  mean(q * second_moment(mu) - (q * mu)^2)
}
m <- glmmTMB(count ~ spp + mined + (1 | site), sal, family = truncated_poisson, ziformula = ~mined)
v <- hurdle_variance(m, function(mu) mu + mu^2, function(mu) exp(-mu))
out$hurdle_poisson <- nakagawa(m, "count ~ spp + mined + (1 | site)", "hurdle_poisson",
                               eta_form = function(eta0) log1p(v / exp(2 * eta0)))
out$hurdle_poisson$hu_formula <- "~ mined"
out$hurdle_poisson$truncated_variance_at_1 <- truncated_poisson()$variance(1)
lambda <- exp(out$hurdle_poisson$null_intercept)  # later insight versions: the truncated variance at lambda
out$hurdle_poisson$truncated_at_null_lambda <- log1p(truncated_poisson()$variance(lambda) / lambda^2)
m <- glmmTMB(count ~ spp + mined + (1 | site), sal, family = truncated_nbinom2, ziformula = ~mined)
theta <- sigma(m)
v <- hurdle_variance(m, function(mu) mu + mu^2 * (1 + 1 / theta), function(mu) (theta / (theta + mu))^theta)
out$hurdle_negbinomial <- nakagawa(m, "count ~ spp + mined + (1 | site)", "hurdle_negbinomial",
                                   eta_form = function(eta0) log1p(v / exp(2 * eta0)), aux = list(phi = theta))
out$hurdle_negbinomial$hu_formula <- "~ mined"

# beta-binomial on cbpp (glmmTMB betabinomial, phi = sigma(model)): insight 0.19.0 takes
# mu (1 - mu) n (phi + n) / (1 + phi) with n the number of rows; bayesmm pi^2/3 (the binomial's) plus the
# variance of the logit of the beta-distributed success probability at mu = plogis(eta0), as for beta
m <- glmmTMB(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = betabinomial)
phi <- sigma(m)
out$cbpp_beta_binomial <- nakagawa(m, "cbind(incidence, size - incidence) ~ period + (1 | herd)", "beta_binomial",
                                   eta_form = function(eta0) pi^2 / 3 + trigamma(plogis(eta0) * phi) +
                                     trigamma(plogis(-eta0) * phi), aux = list(phi = phi))

writeLines(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), file.path("tests", "reference", "r2.json"))
