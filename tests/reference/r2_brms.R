# brms 2.18's bayes_R2 for sleepstudy at brms's defaults (4 chains x (1000 + 1000), seed 1), the reference of
# tests/answers/test_r2.py. Run from the repository root: Rscript tests/reference/r2_brms.R
suppressPackageStartupMessages({library(brms); library(jsonlite)})
sleep <- read.csv("bayesmm/datasets/sleepstudy.csv")
sleep$Subject <- factor(sleep$Subject)
fit <- brm(Reaction ~ Days + (Days | Subject), data = sleep, chains = 4, iter = 2000, warmup = 1000, seed = 1,
           cores = 1, refresh = 0)
r2 <- bayes_R2(fit)
out <- list(
  sleepstudy_corr = list(formula = "Reaction ~ Days + (Days | Subject)", family = "gaussian",
                         bayes_R2 = list(estimate = unname(r2[1, "Estimate"]), est_error = unname(r2[1, "Est.Error"]),
                                         q2.5 = unname(r2[1, "Q2.5"]), q97.5 = unname(r2[1, "Q97.5"]))),
  versions = list(R = paste(R.version$major, R.version$minor, sep = "."),
                  brms = as.character(packageVersion("brms")), rstan = as.character(packageVersion("rstan"))))
write_json(out, "tests/reference/r2_brms.json", auto_unbox = TRUE, digits = NA, pretty = TRUE)
print(r2)
