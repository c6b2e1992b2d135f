# glmmTMB 1.1 heterogeneous Toeplitz (toep) reference on simulated data: writes structures_toep.json and the data set
# it fits (structures_toep.csv). Run from tests/reference:
#   Rscript structures_toep_reference.R
# glmmTMB's toep has one SD per column and one correlation per lag (each mapped into (-1, 1) on its own); bayesmm's
# has the same matrix, reached through partial autocorrelations. The JSON holds the correlations per lag as glmmTMB's
# fitted correlation matrix gives them (its first row), and checks that the matrix is Toeplitz.
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
set.seed(24)

# 60 groups x a 5-level time factor, 2 rows per cell; SDs 1, 0.8, 0.7, 0.6, 0.5; correlations 0.6, 0.4, 0.2, 0.1 at
# lags 1-4; residual SD 0.5; intercept 0.5 and slope 0.3 on x
n_g <- 60; n_t <- 5; sds <- c(1, 0.8, 0.7, 0.6, 0.5); lags <- c(0.6, 0.4, 0.2, 0.1)
R <- toeplitz(c(1, lags))
stopifnot(min(eigen(R)$values) > 0)
b <- t(chol(diag(sds) %*% R %*% diag(sds))) %*% matrix(rnorm(n_t * n_g), n_t)
times <- paste0("t", 1:n_t)
toep <- expand.grid(rep = 1:2, f = times, g = 1:n_g, stringsAsFactors = FALSE)[, c("g", "f")]
toep$x <- round(rnorm(nrow(toep)), 4)
toep$y <- round(0.5 + 0.3 * toep$x + b[cbind(match(toep$f, times), toep$g)] + rnorm(nrow(toep), sd = 0.5), 5)
write.csv(toep, "structures_toep.csv", row.names = FALSE)
toep$gf <- factor(toep$g)
m <- glmmTMB(y ~ 1 + x + toep(0 + f | gf), data = toep)
stopifnot(m$sdr$pdHess)
C <- attr(VarCorr(m)$cond$gf, "correlation")
stopifnot(max(abs(C - toeplitz(C[1, ]))) < 1e-8)
sd_names <- paste0("f", times)
out <- list(toep = list(
  call = "glmmTMB(y ~ 1 + x + toep(0 + f | gf), data = structures_toep.csv)",
  truth = list(Intercept = 0.5, x = 0.3, sd = as.list(setNames(sds, sd_names)), rho = lags, sigma = 0.5),
  fixef = as.list(fixef(m)$cond), fixef_se = as.list(sqrt(diag(vcov(m)$cond))),
  sd = as.list(setNames(unname(attr(VarCorr(m)$cond$gf, "stddev")), sd_names)), rho = unname(C[1, -1]),
  sigma = sigma(m), logLik = as.numeric(logLik(m))))
out$glmmTMB <- as.character(packageVersion("glmmTMB"))
write_json(out, "structures_toep.json", auto_unbox = TRUE, digits = 8, pretty = TRUE)
