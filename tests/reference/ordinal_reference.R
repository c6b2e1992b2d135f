# Reference fits of ordinal and categorical responses, the references of tests/answers/test_probabilities.py and
# tests/end_to_end/test_reference_ordinal.py. Run from the repository root:
#   Rscript tests/reference/ordinal_reference.R
# Writes bayesmm/datasets/wine.csv (ordinal::wine, Randall 1989), tests/reference/categorical_sim.csv (a simulated
# categorical response with a known truth) and tests/reference/ordinal.json. R 4.2.2, ordinal 2022.11.16, brms 2.18
# (Debian's r-cran-* packages).
#  * ordinal::clmm (Laplace maximum likelihood) of rating ~ temp + contact + (1 | judge), links logit, probit and
#    cloglog: thresholds (theta, P(Y <= k) = F(theta_k - x b - u)), coefficients, their standard errors and the
#    judge SD; and the population-level (u = 0) category probabilities of the four temp x contact cells.
#    In ordinal 2022.11.16 clmm's "cloglog" and "loglog" links are interchanged (clm's are not): the logLik that
#    clmm(link = "cloglog") reports is that of its estimates under the loglog CDF exp(-exp(-x)), computed here by
#    Gauss-Hermite quadrature (`gh_loglik`), and far from it under the cloglog CDF. So the cloglog reference is
#    clmm(link = "loglog"); `cloglog_as_labelled` keeps clmm(link = "cloglog") with both quadrature values.
#  * brms::brm(family = cumulative("logit")), brms's default priors (flat b, student_t(3, 0, 2.5) on each
#    threshold and on the SD), 4 chains x (1000 + 1000), seed 1: posterior summaries, the population-level
#    category probabilities (fitted(re_formula = NA)) and loo's elpd.
#  * a categorical response (3 categories, reference "a") simulated with known coefficients and independent
#    per-category judge-like group effects, and brms::brm(family = categorical()) of it.
suppressPackageStartupMessages({library(ordinal); library(brms); library(jsonlite)})

data(wine, package = "ordinal")
wine_csv <- data.frame(response = wine$response, rating = as.integer(as.character(wine$rating)),
                       temp = as.character(wine$temp), contact = as.character(wine$contact),
                       bottle = as.character(wine$bottle), judge = as.character(wine$judge))
write.csv(wine_csv, "bayesmm/datasets/wine.csv", row.names = FALSE)

grid <- expand.grid(temp = levels(wine$temp), contact = levels(wine$contact))
cdfs <- list(logit = plogis, probit = pnorm, cloglog = function(x) 1 - exp(-exp(x)),
             loglog = function(x) exp(-exp(-x)))
# the marginal log-likelihood of clmm estimates under a CDF, by 60-node Gauss-Hermite quadrature over each judge
gh_loglik <- function(m, cdf) {
  gh <- statmod::gauss.quad.prob(60, dist = "normal")
  cuts <- c(-Inf, m$alpha, Inf)
  y <- as.integer(wine$rating)
  eta <- drop(model.matrix(~ temp + contact, wine)[, -1] %*% m$beta)
  sum(sapply(split(seq_along(y), wine$judge), function(rows) {
    u <- m$ST$judge[1, 1] * gh$nodes
    like <- sapply(u, function(v) prod(cdf(cuts[y[rows] + 1] - eta[rows] - v) - cdf(cuts[y[rows]] - eta[rows] - v)))
    log(sum(gh$weights * like))
  }))
}
clmm_fit <- function(link) {
  fitted_link <- if (link == "cloglog") "loglog" else link  # clmm's labels are interchanged (see above)
  m <- clmm(rating ~ temp + contact + (1 | judge), data = wine, link = fitted_link)
  se <- sqrt(diag(vcov(m)))
  eta <- model.matrix(~ temp + contact, grid)[, -1] %*% m$beta
  cdf <- cdfs[[link]]
  cum <- cbind(sapply(m$alpha, function(a) cdf(a - eta)), 1)
  probs <- cum - cbind(0, cum[, -ncol(cum)])
  colnames(probs) <- levels(wine$rating)
  list(thresholds = as.list(m$alpha), beta = as.list(m$beta), se = as.list(se),
       judge_sd = unname(m$ST$judge[1, 1]), logLik = as.numeric(logLik(m)), clmm_link = fitted_link,
       gh_loglik = gh_loglik(m, cdf),
       population_probs = list(temp = as.character(grid$temp), contact = as.character(grid$contact),
                               probs = unname(split(probs, row(probs)))))
}
clmm_out <- lapply(c(logit = "logit", probit = "probit", cloglog = "cloglog"), clmm_fit)
labelled <- clmm(rating ~ temp + contact + (1 | judge), data = wine, link = "cloglog")
clmm_out$cloglog_as_labelled <- list(thresholds = as.list(labelled$alpha), beta = as.list(labelled$beta),
                                     judge_sd = unname(labelled$ST$judge[1, 1]), logLik = as.numeric(logLik(labelled)),
                                     gh_loglik_cloglog = gh_loglik(labelled, cdfs$cloglog),
                                     gh_loglik_loglog = gh_loglik(labelled, cdfs$loglog))

summarise <- function(fit) {
  s <- posterior::summarise_draws(posterior::as_draws_df(fit), "mean", "sd",
                                  ~quantile(.x, probs = c(0.025, 0.975)), "rhat", "ess_bulk")
  s <- s[!grepl("^(r_|lp__|lprior|Intercept|z_)", s$variable), ]
  names(s) <- c("variable", "mean", "sd", "q2.5", "q97.5", "rhat", "ess_bulk")
  s
}

wine$rating_int <- as.integer(as.character(wine$rating))
start <- Sys.time()
brm_cum <- brm(rating_int ~ temp + contact + (1 | judge), data = wine, family = cumulative("logit"),
               chains = 4, iter = 2000, warmup = 1000, seed = 1, cores = 1, refresh = 0)
cum_seconds <- as.numeric(difftime(Sys.time(), start, units = "secs"))
fitted_probs <- fitted(brm_cum, newdata = grid, re_formula = NA)  # rows x (Estimate, Est.Error, Q2.5, Q97.5) x K
brms_cum <- list(
  formula = "rating ~ temp + contact + (1 | judge)", family = "cumulative", link = "logit",
  summary = summarise(brm_cum), wall_seconds = cum_seconds,
  divergences = sum(nuts_params(brm_cum)$Value[nuts_params(brm_cum)$Parameter == "divergent__"]),
  population_probs = list(temp = as.character(grid$temp), contact = as.character(grid$contact),
                          estimate = unname(split(fitted_probs[, "Estimate", ], row(fitted_probs[, "Estimate", ]))),
                          est_error = unname(split(fitted_probs[, "Est.Error", ],
                                                   row(fitted_probs[, "Est.Error", ])))),
  elpd_loo = unname(loo(brm_cum)$estimates["elpd_loo", ]))

# categorical: y in {a, b, c}, reference a; mu_b = 0.5 + 1.0 x + u_b[g], mu_c = -0.5 - 0.8 x + 0.7 z + u_c[g],
# u_b ~ N(0, 0.8^2), u_c ~ N(0, 0.5^2) independent, 30 groups x 15 rows
set.seed(20240611)
n_groups <- 30; per_group <- 15
truth <- list(b = list(mub_Intercept = 0.5, mub_x = 1.0, mub_z = 0.0, muc_Intercept = -0.5, muc_x = -0.8, muc_z = 0.7),
              sd = list(mub_Intercept = 0.8, muc_Intercept = 0.5))
g <- rep(seq_len(n_groups), each = per_group)
x <- rnorm(length(g)); z <- rbinom(length(g), 1, 0.5)
u_b <- rnorm(n_groups, 0, truth$sd$mub_Intercept); u_c <- rnorm(n_groups, 0, truth$sd$muc_Intercept)
eta_b <- truth$b$mub_Intercept + truth$b$mub_x * x + truth$b$mub_z * z + u_b[g]
eta_c <- truth$b$muc_Intercept + truth$b$muc_x * x + truth$b$muc_z * z + u_c[g]
p <- cbind(1, exp(eta_b), exp(eta_c)); p <- p / rowSums(p)
y <- apply(p, 1, function(row) sample(c("a", "b", "c"), 1, prob = row))
sim <- data.frame(y = y, x = round(x, 6), z = z, g = paste0("g", g))
write.csv(sim, "tests/reference/categorical_sim.csv", row.names = FALSE)
sim$y <- factor(sim$y, levels = c("a", "b", "c"))
start <- Sys.time()
brm_cat <- brm(y ~ x + z + (1 | g), data = sim, family = categorical(), chains = 4, iter = 2000, warmup = 1000,
               seed = 1, cores = 1, refresh = 0)
cat_seconds <- as.numeric(difftime(Sys.time(), start, units = "secs"))

out <- list(
  generated_by = "tests/reference/ordinal_reference.R",
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  ordinal = as.character(packageVersion("ordinal")), brms = as.character(packageVersion("brms"))),
  wine = list(formula = "rating ~ temp + contact + (1 | judge)", levels = levels(wine$rating),
              clmm = clmm_out, brms = brms_cum),
  categorical = list(formula = "y ~ x + z + (1 | g)", levels = c("a", "b", "c"), truth = truth,
                     brms = list(summary = summarise(brm_cat), wall_seconds = cat_seconds)))
write_json(out, "tests/reference/ordinal.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
print(clmm_out$logit[c("thresholds", "beta", "judge_sd")])
print(clmm_out$cloglog_as_labelled[c("logLik", "gh_loglik_cloglog", "gh_loglik_loglog")])
print(summarise(brm_cum))
print(summarise(brm_cat))
