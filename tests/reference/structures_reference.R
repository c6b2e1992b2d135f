# glmmTMB 1.1 covariance-structure references on simulated data (the covstruct vignette's structures): writes
# structures.json and the data sets it fits (structures_*.csv). Run from tests/reference:
#   Rscript structures_reference.R
# Each structure's parameter is converted to bayesmm's: ar1 and cs report glmmTMB's correlation itself (rho);
# ou and exp report the length scale l of exp(-d / l), read from the fitted correlation matrix between two
# positions (glmmTMB's own parameter is on its internal log scale) as l = -d / log(r).
suppressPackageStartupMessages({library(glmmTMB); library(jsonlite)})
set.seed(1)
out <- list()

# The fitted correlation at the pair of positions whose correlation is closest to 0.5, with their distance:
# the positions are parsed from the matrix's dimnames (numFactor's levels are not in the data's row order).
pair_correlation <- function(C, prefix) {
  P <- parseNumLevels(sub(paste0("^", prefix), "", rownames(C)))
  D <- as.matrix(dist(P))
  k <- which(upper.tri(C))[which.min(abs(C[upper.tri(C)] - 0.5))]
  # every pair gives the same l when the fitted correlation is exp(-d / l)
  stopifnot(max(abs(exp(-D / (-D[k] / log(C[k]))) - C)) < 1e-6)
  list(d = D[k], r = C[k])
}
sd_of <- function(m) unname(attr(VarCorr(m)$cond$gf, "stddev"))
cor_of <- function(m) attr(VarCorr(m)$cond$gf, "correlation")
fixed <- function(m) as.list(fixef(m)$cond)
fixed_se <- function(m) as.list(sqrt(diag(vcov(m)$cond)))

# ar1, gaussian: 100 series of 6 equally spaced times, rho = 0.7, SD 1, residual SD 0.5
n_g <- 100; n_t <- 6
b <- t(chol(0.7^abs(outer(1:n_t, 1:n_t, "-")))) %*% matrix(rnorm(n_t * n_g), n_t)
ar1 <- data.frame(g = rep(1:n_g, each = n_t), t = rep(1:n_t, n_g))
ar1$y <- 1 + as.vector(b) + rnorm(nrow(ar1), sd = 0.5)
write.csv(ar1, "structures_ar1.csv", row.names = FALSE)
ar1$tf <- factor(ar1$t); ar1$gf <- factor(ar1$g)
m <- glmmTMB(y ~ 1 + ar1(tf + 0 | gf), data = ar1)
out$ar1 <- list(call = "glmmTMB(y ~ 1 + ar1(tf + 0 | gf), data = structures_ar1.csv)",
                truth = list(Intercept = 1, sd = 1, rho = 0.7, sigma = 0.5),
                fixef = fixed(m), fixef_se = fixed_se(m), sd = sd_of(m)[1], rho = cor_of(m)[1, 2], sigma = sigma(m))

# ar1, poisson: 60 series of 8 times, rho = 0.6, SD 0.7, intercept 1 (log scale)
n_g <- 60; n_t <- 8
b <- t(chol(0.6^abs(outer(1:n_t, 1:n_t, "-")))) %*% matrix(rnorm(n_t * n_g), n_t) * 0.7
pois <- data.frame(g = rep(1:n_g, each = n_t), t = rep(1:n_t, n_g))
pois$y <- rpois(nrow(pois), exp(1 + as.vector(b)))
write.csv(pois, "structures_ar1_poisson.csv", row.names = FALSE)
pois$tf <- factor(pois$t); pois$gf <- factor(pois$g)
m <- glmmTMB(y ~ 1 + ar1(tf + 0 | gf), data = pois, family = poisson)
out$ar1_poisson <- list(call = "glmmTMB(y ~ 1 + ar1(tf + 0 | gf), family = poisson, data = structures_ar1_poisson.csv)",
                        truth = list(Intercept = 1, sd = 0.7, rho = 0.6),
                        fixef = fixed(m), fixef_se = fixed_se(m), sd = sd_of(m)[1], rho = cor_of(m)[1, 2])

# ou: 60 series at 5 irregular times in (0, 10), correlation exp(-d / 2), SD 0.8, residual SD 0.4
times <- round(sort(runif(5, 0, 10)), 3)
ou <- data.frame(g = rep(1:60, each = 5), u = rep(times, 60))
R <- exp(-abs(outer(times, times, "-")) / 2)
ou$y <- 2 + as.vector(t(chol(R)) %*% matrix(rnorm(5 * 60), 5)) * 0.8 + rnorm(300, sd = 0.4)
write.csv(ou, "structures_ou.csv", row.names = FALSE)
ou$pos <- numFactor(ou$u); ou$gf <- factor(ou$g)
m <- glmmTMB(y ~ 1 + ou(pos + 0 | gf), data = ou)
p <- pair_correlation(cor_of(m), "pos")
out$ou <- list(call = "glmmTMB(y ~ 1 + ou(numFactor(u) + 0 | gf), data = structures_ou.csv)",
               truth = list(Intercept = 2, sd = 0.8, lscale = 2, sigma = 0.4),
               fixef = fixed(m), fixef_se = fixed_se(m), sd = sd_of(m)[1], lscale = -p$d / log(p$r), sigma = sigma(m))

# cs: 80 groups x a 4-level factor, SDs 1, 0.8, 0.6, 0.5 and correlation 0.5, residual SD 0.5, 3 rows per cell
n_g <- 80; sds <- c(1, 0.8, 0.6, 0.5)
S <- diag(sds) %*% (0.5 + 0.5 * diag(4)) %*% diag(sds)
b <- t(chol(S)) %*% matrix(rnorm(4 * n_g), 4)
cs <- expand.grid(rep = 1:3, f = c("a", "b", "c", "d"), g = 1:n_g, stringsAsFactors = FALSE)[, c("g", "f")]
cs$x <- rnorm(nrow(cs))
cs$y <- 0.5 + 0.3 * cs$x + b[cbind(match(cs$f, c("a", "b", "c", "d")), cs$g)] + rnorm(nrow(cs), sd = 0.5)
write.csv(cs, "structures_cs.csv", row.names = FALSE)
cs$gf <- factor(cs$g)
m <- glmmTMB(y ~ 1 + x + cs(0 + f | gf), data = cs)
out$cs <- list(call = "glmmTMB(y ~ 1 + x + cs(0 + f | gf), data = structures_cs.csv)",
               truth = list(Intercept = 0.5, x = 0.3, sd = as.list(setNames(sds, paste0("f", c("a", "b", "c", "d")))),
                            rho = 0.5, sigma = 0.5),
               fixef = fixed(m), fixef_se = fixed_se(m), sd = as.list(setNames(sd_of(m), paste0("f", c("a", "b", "c", "d")))),
               rho = cor_of(m)[1, 2], sigma = sigma(m))

# exp: 80 sites on a 10 x 10 square, one group, correlation exp(-d / 2), SD 1, residual SD 0.3, slope 0.5 on x1
n <- 80
sp <- data.frame(x = round(runif(n, 0, 10), 3), y2 = round(runif(n, 0, 10), 3), x1 = rnorm(n))
D <- as.matrix(dist(sp[, c("x", "y2")]))
sp$y <- 1 + 0.5 * sp$x1 + as.vector(t(chol(exp(-D / 2))) %*% rnorm(n)) + rnorm(n, sd = 0.3)
sp$g <- 1
write.csv(sp, "structures_exp.csv", row.names = FALSE)
sp$pos <- numFactor(sp$x, sp$y2); sp$gf <- factor(sp$g)
m <- glmmTMB(y ~ 1 + x1 + exp(pos + 0 | gf), data = sp)
p <- pair_correlation(cor_of(m), "pos")
out$exp <- list(call = "glmmTMB(y ~ 1 + x1 + exp(numFactor(x, y2) + 0 | gf), data = structures_exp.csv)",
                truth = list(Intercept = 1, x1 = 0.5, sd = 1, lscale = 2, sigma = 0.3),
                fixef = fixed(m), fixef_se = fixed_se(m), sd = sd_of(m)[1], lscale = -p$d / log(p$r), sigma = sigma(m))

out$glmmTMB <- as.character(packageVersion("glmmTMB"))
write_json(out, "structures.json", auto_unbox = TRUE, digits = 8, pretty = TRUE)
