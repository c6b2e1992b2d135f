# glmmTMB reference fits for zero-inflated and hurdle models of the salamanders data (GLMM FAQ / Brooks et
# al. 2017), for tests/end_to_end/test_reference_zero_inflated.py. Run from the repository root:
#   Rscript validation/reference/zero_inflated_salamanders.R
# It writes tests/reference/salamanders_{zip,zinb,hurdle_poisson}.glmmTMB.json.
library(glmmTMB)
library(jsonlite)
sal <- read.csv("bayesmm/datasets/salamanders.csv", stringsAsFactors = TRUE)
cases <- list(
  salamanders_zip = list(formula = count ~ spp * mined + (1 | site), zi = ~mined, family = poisson(),
                         bayesmm_family = "zero_inflated_poisson"),
  salamanders_zinb = list(formula = count ~ spp + mined + (1 | site), zi = ~mined, family = nbinom2(),
                          bayesmm_family = "zero_inflated_negbinomial"),
  salamanders_hurdle_poisson = list(formula = count ~ spp + mined + (1 | site), zi = ~mined,
                                    family = truncated_poisson(), bayesmm_family = "hurdle_poisson")
)
for (id in names(cases)) {
  case <- cases[[id]]
  seconds <- system.time(m <- glmmTMB(case$formula, ziformula = case$zi, family = case$family, data = sal))[["elapsed"]]
  vc <- VarCorr(m)$cond
  out <- list(
    id = id, formula = deparse(case$formula), zi = deparse(case$zi), family = case$bayesmm_family,
    n = nrow(sal), engine = paste("glmmTMB", packageVersion("glmmTMB")),
    fixef = as.list(fixef(m)$cond), se = as.list(sqrt(diag(vcov(m)$cond))),
    zi_fixef = as.list(fixef(m)$zi), zi_se = as.list(setNames(sqrt(diag(vcov(m)$zi)), sub("^zi~", "", colnames(vcov(m)$zi)))),
    varcorr = lapply(vc, function(v) list(sd = as.list(attr(v, "stddev")))),
    dispersion = if (case$bayesmm_family == "zero_inflated_negbinomial") sigma(m) else NULL,
    logLik = as.numeric(logLik(m)), seconds = seconds
  )
  write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE, null = "null"),
        file.path("tests/reference", paste0(id, ".glmmTMB.json")))
}
