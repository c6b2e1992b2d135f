# Reference fits with autocorrelated residuals (nlme's corAR1 and corCAR1), for tests/end_to_end/test_autocor.py.
# Run from the repository root:  Rscript tests/reference/autocor_reference.R
# Writes tests/reference/autocor.json, tests/reference/autocor_ovary.csv and tests/reference/autocor_bodyweight.csv.
# R 4.2.2, nlme 3.1 (Debian's r-recommended); REML fits (nlme's default), as Pinheiro and Bates (2000) fit them.
#
# * Ovary (nlme; 308 rows, 11 mares): follicles ~ sin(2 pi Time) + cos(2 pi Time), AR(1) residuals in row order
#   within each mare (corAR1(form = ~ 1 | Mare), Pinheiro and Bates 2000, section 5.3.4), with a random intercept per
#   mare (lme) and without (gls).
# * BodyWeight (nlme; 176 rows, 16 rats weighed on days 1, 8, ..., 64 with an extra weighing on day 44):
#   weight ~ Time * Diet with a continuous-time AR(1) in Time within each rat (corCAR1(form = ~ Time | Rat)) and a
#   random intercept per rat: correlation phi^|dt| between weighings dt days apart.
suppressMessages({
  library(nlme)
  library(jsonlite)
})

ovary <- data.frame(Mare = as.character(Ovary$Mare), Time = Ovary$Time, follicles = Ovary$follicles)
write.csv(ovary, "tests/reference/autocor_ovary.csv", row.names = FALSE)
bw <- data.frame(Rat = as.character(BodyWeight$Rat), Time = BodyWeight$Time, Diet = as.character(BodyWeight$Diet),
                 weight = BodyWeight$weight)
write.csv(bw, "tests/reference/autocor_bodyweight.csv", row.names = FALSE)

phi_of <- function(m) unname(coef(m$modelStruct$corStruct, unconstrained = FALSE))

fixed_block <- function(m, table) {
  est <- table[, "Value"]
  list(fixef = as.list(setNames(est, names(est))), se = as.list(setNames(table[, "Std.Error"], names(est))))
}

lme_case <- function(formula, data, random, correlation, label) {
  seconds <- system.time(m <- lme(formula, data = data, random = random, correlation = correlation))[["elapsed"]]
  vc <- VarCorr(m)
  phi <- phi_of(m)
  ci <- intervals(m, which = "var-cov")$corStruct
  c(list(model = label), fixed_block(m, summary(m)$tTable),
    list(sd_intercept = as.numeric(vc[1, "StdDev"]), sigma = m$sigma, phi = phi,
         phi_interval = unname(ci[1, c("lower", "upper")]), logLik = as.numeric(logLik(m)), seconds = seconds))
}

gls_case <- function(formula, data, correlation, label) {
  m <- gls(formula, data = data, correlation = correlation)
  ci <- intervals(m, which = "var-cov")$corStruct
  c(list(model = label), fixed_block(m, summary(m)$tTable),
    list(sigma = m$sigma, phi = phi_of(m), phi_interval = unname(ci[1, c("lower", "upper")]),
         logLik = as.numeric(logLik(m))))
}

ovary_formula <- follicles ~ sin(2 * pi * Time) + cos(2 * pi * Time)
out <- list(
  ovary_lme = lme_case(ovary_formula, ovary, ~ 1 | Mare, corAR1(form = ~ 1 | Mare),
                       "lme(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), random = ~1 | Mare, correlation = corAR1(form = ~1 | Mare))"),
  ovary_gls = gls_case(ovary_formula, ovary, corAR1(form = ~ 1 | Mare),
                       "gls(follicles ~ sin(2*pi*Time) + cos(2*pi*Time), correlation = corAR1(form = ~1 | Mare))"),
  bodyweight_lme = lme_case(weight ~ Time * Diet, bw, ~ 1 | Rat, corCAR1(form = ~ Time | Rat),
                            "lme(weight ~ Time * Diet, random = ~1 | Rat, correlation = corCAR1(form = ~Time | Rat))"),
  versions = list(R = R.version.string, nlme = as.character(packageVersion("nlme")))
)
write_json(out, "tests/reference/autocor.json", auto_unbox = TRUE, digits = 10, pretty = TRUE)
