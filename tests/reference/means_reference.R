# Reference marginal means, contrasts and trends for tests/answers/test_means.py.
# Run from the repository root:  Rscript tests/reference/means_reference.R
# Writes tests/reference/means.json. R 4.2.2, lme4 1.1-31, emmeans 1.8.4 (Debian's r-cran-* packages); ML
# estimates (REML for lmer), asymptotic (z) intervals. marginaleffects was not installable here: slopes are
# checked against emtrends (linear models) and against analytic derivatives in the tests.
suppressMessages({
  library(lme4)
  library(emmeans)
  library(jsonlite)
})
emm_options(lmer.df = "asymptotic")

read_data <- function(name, factors) {
  frame <- read.csv(file.path("bayesmm", "datasets", paste0(name, ".csv")))
  for (f in factors) frame[[f]] <- factor(frame[[f]])
  frame
}

# a summary as a list of columns; the mean column is renamed 'estimate', the SE 'se'
table_of <- function(object) {
  frame <- as.data.frame(summary(object))
  names(frame)[names(frame) %in% c("emmean", "prob", "rate", "response", "odds.ratio", "ratio",
                                   "age.trend")] <- "estimate"
  names(frame)[names(frame) == "SE"] <- "se"
  keep <- setdiff(names(frame), c("df", "z.ratio", "p.value", "null", "t.ratio"))
  for (col in keep) if (is.factor(frame[[col]])) frame[[col]] <- as.character(frame[[col]])
  as.list(frame[keep])
}

out <- list(generated_by = "tests/reference/means_reference.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            emmeans = as.character(packageVersion("emmeans"))))

# ---- cbpp, binomial: probabilities, odds ratios, link scale
cbpp <- read_data("cbpp", c("herd", "period"))
m <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd), cbpp, family = binomial)
e <- emmeans(m, ~ period)
out$cbpp_binomial <- list(
  formula = "cbind(incidence, size - incidence) ~ period + (1 | herd)", family = "binomial",
  fixef = as.list(fixef(m)), herd_sd = attr(VarCorr(m)$herd, "stddev")[[1]],
  means_response = table_of(regrid(e)),                          # emmeans(m, ~ period, type = "response")
  means_link = table_of(e),
  pairs_response = table_of(pairs(e, type = "response")),       # odds ratios period_i / period_j
  pairs_link = table_of(pairs(e)),                              # log odds ratios
  revpairwise_link = table_of(contrast(e, "revpairwise")),
  trt_vs_ctrl_response = table_of(contrast(e, "trt.vs.ctrl", type = "response")))

# ---- cbpp, poisson with a transformed covariate: rate ratios, size at its mean
m <- glmer(incidence ~ period + log(size) + (1 | herd), cbpp, family = poisson)
e <- emmeans(m, ~ period)
out$cbpp_poisson <- list(
  formula = "incidence ~ period + log(size) + (1 | herd)", family = "poisson",
  fixef = as.list(fixef(m)), size_mean = mean(cbpp$size),
  means_response = table_of(regrid(e)),
  pairs_response = table_of(pairs(e, type = "response")))      # rate ratios

# ---- orthodont, numeric covariate by factor: means at the mean age and at chosen ages, trends
orthodont <- read_data("orthodont", c("Subject", "Sex"))
m <- lmer(distance ~ age * Sex + (age | Subject), orthodont)
e_at <- emmeans(m, ~ Sex | age, at = list(age = c(8, 14)))
out$orthodont_slopes <- list(
  formula = "distance ~ age * Sex + (age | Subject)", family = "gaussian",
  fixef = as.list(fixef(m)),
  means = table_of(emmeans(m, ~ Sex)),                          # age at its mean (11)
  means_at = table_of(e_at),
  pairs_at = table_of(pairs(e_at)),                             # Female - Male at each age
  trends = table_of(emtrends(m, ~ Sex, var = "age")))

# ---- orthodont, two factors (age as a factor): by=, weights = "proportional" vs equal
m <- lmer(distance ~ factor(age) * Sex + (1 | Subject), orthodont)
out$orthodont_factors <- list(
  formula = "distance ~ factor(age) * Sex + (1 | Subject)", family = "gaussian",
  bayesmm_formula = "distance ~ C(age) * Sex + (1 | Subject)",
  sex_counts = as.list(table(orthodont$Sex)),
  means_equal = table_of(emmeans(m, ~ age)),
  means_proportional = table_of(emmeans(m, ~ age, weights = "proportional")),
  means_by = table_of(emmeans(m, ~ age | Sex)),
  pairs_by = table_of(pairs(emmeans(m, ~ Sex | age))),
  pairs_two_specs = table_of(pairs(emmeans(m, ~ age * Sex))))

writeLines(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), file.path("tests", "reference", "means.json"))
