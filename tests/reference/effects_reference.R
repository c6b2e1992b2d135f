# Reference conditional-effects grids for tests/answers/test_effects.py: the population-level prediction
# (re.form = NA) over the grid brms's conditional_effects builds: the effect over its range, a factor `by`
# at its levels, a numeric `by` at mean(by) + c(-1, 0, 1) * sd(by), other predictors at their means or
# reference levels. Maximum-likelihood (REML for lmer) plug-in predictions: a gaussian model's Bayesian line is
# the same X b up to the posterior's spread; a zero-inflated mean differs by the plug-in's bias.
# Run from the repository root:  Rscript tests/reference/effects_reference.R
# Writes tests/reference/effects.json. R 4.2.2, lme4 1.1-31, glmmTMB 1.1.5 (Debian's r-cran-* packages).
suppressMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})

read_data <- function(name, factors) {
  frame <- read.csv(file.path("bayesmm", "datasets", paste0(name, ".csv")))
  for (f in factors) frame[[f]] <- factor(frame[[f]])
  frame
}

as_columns <- function(grid) {
  for (col in names(grid)) if (is.factor(grid[[col]])) grid[[col]] <- as.character(grid[[col]])
  as.list(grid)
}

# orthodont: distance ~ age * Sex + (age | Subject), effect age (4 points over its range) by Sex
orthodont <- read_data("orthodont", c("Subject", "Sex"))
m1 <- lmer(distance ~ age * Sex + (age | Subject), data = orthodont, REML = TRUE)
g1 <- expand.grid(age = seq(min(orthodont$age), max(orthodont$age), length.out = 4), Sex = levels(orthodont$Sex))
g1$estimate <- predict(m1, newdata = g1, re.form = NA)

# salamanders: count ~ cover * DOP + mined + (1 | site), zero-inflated Poisson (zi ~ 1); effect cover (3
# points) by DOP at mean -/+ 1 SD, mined at its reference level; the mean (1 - zi) exp(X b)
sal <- read_data("salamanders", c("site", "mined", "spp"))
m2 <- glmmTMB(count ~ cover * DOP + mined + (1 | site), ziformula = ~1, family = poisson(), data = sal)
dop <- mean(sal$DOP) + c(-1, 0, 1) * sd(sal$DOP)
g2 <- expand.grid(cover = seq(min(sal$cover), max(sal$cover), length.out = 3), DOP = dop,
                  mined = factor(levels(sal$mined)[1], levels = levels(sal$mined)))
g2$site <- NA
g2$estimate <- predict(m2, newdata = g2, type = "response", re.form = NA)
g2$link <- predict(m2, newdata = g2, type = "link", re.form = NA)
g2$site <- NULL

out <- list(generated_by = "tests/reference/effects_reference.R",
            versions = list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                            glmmTMB = as.character(packageVersion("glmmTMB"))),
            orthodont = list(formula = "distance ~ age * Sex + (age | Subject)", effect = "age", by = "Sex",
                             grid = as_columns(g1)),
            salamanders_zip = list(formula = "count ~ cover * DOP + mined + (1 | site)", zi = "~1",
                                   family = "zero_inflated_poisson", effect = "cover", by = "DOP",
                                   grid = as_columns(g2)))
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), "tests/reference/effects.json")
