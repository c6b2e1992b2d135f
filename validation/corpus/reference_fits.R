# Maximum-likelihood reference fits for the validation corpus (models.toml), one JSON per model in
# reference/<name>.json, in the layout of the shared reference fits (fixef, se, varcorr, sigma or
# dispersion, logLik, singular, seconds) plus the family parameters under bayesmm's names and the
# fixed-effect term labels (to map R's names onto bayesmm's).
#
#   Rscript validation/corpus/reference_fits.R            # every model
#   Rscript validation/corpus/reference_fits.R cake ohio  # some
#
# Gaussian models: lme4::lmer, REML and ML blocks. Binomial, Bernoulli and Poisson: lme4::glmer (Laplace,
# or adaptive quadrature where the call says nAGQ). Other families: glmmTMB. The lognormal model is lmer
# on log(y) (the same likelihood up to the Jacobian, which does not move the estimates).
suppressPackageStartupMessages({
  library(lme4)
  library(glmmTMB)
  library(jsonlite)
})

here <- local({
  args <- commandArgs(FALSE)
  file <- sub("^--file=", "", args[grep("^--file=", args)])
  if (length(file)) dirname(normalizePath(file)) else "validation/corpus"
})

# A reader for the subset of TOML that models.toml uses: [table] headers and key = "string" lines.
read_models <- function(path) {
  models <- list()
  current <- NULL
  for (line in readLines(path, warn = FALSE)) {
    line <- trimws(line)
    if (line == "" || startsWith(line, "#")) next
    if (grepl("^\\[[^]]+\\]$", line)) {
      current <- sub("^\\[(.*)\\]$", "\\1", line)
      models[[current]] <- list()
      next
    }
    key <- trimws(sub("=.*$", "", line))
    value <- trimws(sub("^[^=]*=", "", line))
    if (grepl('^".*"$', value)) {
      value <- gsub('\\\\"', '"', substr(value, 2, nchar(value) - 1))
      value <- gsub("\\\\\\\\", "\\\\", value)
    } else if (grepl("^'.*'$", value)) {
      value <- substr(value, 2, nchar(value) - 1)
    } else {
      stop("models.toml: unsupported value in line: ", line)
    }
    models[[current]][[key]] <- value
  }
  models
}

# Character columns become factors with levels in byte order, as pandas sorts them.
read_data <- function(file) {
  d <- read.csv(file.path(here, "data", file), stringsAsFactors = FALSE)
  for (k in names(d)) if (is.character(d[[k]])) d[[k]] <- factor(d[[k]], levels = sort(unique(d[[k]]), method = "radix"))
  d
}

named <- function(x) as.list(setNames(as.numeric(x), names(x)))

varcorr_list <- function(vc) {
  out <- list()
  for (g in names(vc)) {
    s <- attr(vc[[g]], "stddev")
    entry <- list(sd = named(s))
    if (length(s) > 1) {
      cm <- attr(vc[[g]], "correlation")
      entry$cor <- unname(lapply(seq_len(nrow(cm)), function(i) as.numeric(cm[i, ])))
    }
    out[[g]] <- entry
  }
  out
}

mer_block <- function(m) {
  block <- list(fixef = named(fixef(m)), se = named(sqrt(diag(as.matrix(vcov(m))))),
                varcorr = varcorr_list(VarCorr(m)), logLik = as.numeric(logLik(m)), singular = isSingular(m))
  if (isLMM(m)) block$sigma <- sigma(m)
  block
}

tmb_result <- function(m, family) {
  vc <- VarCorr(m)$cond
  sds <- unlist(lapply(vc, function(x) attr(x, "stddev")))
  cors <- unlist(lapply(vc, function(x) { cm <- attr(x, "correlation"); if (is.null(cm)) numeric() else cm[upper.tri(cm)] }))
  out <- list(fixef = named(fixef(m)$cond), se = named(sqrt(diag(vcov(m)$cond))), varcorr = varcorr_list(vc),
              dispersion = sigma(m), logLik = as.numeric(logLik(m)),
              singular = any(sds < 1e-3) || any(abs(cors) > 0.999),
              converged = m$fit$convergence == 0 && isTRUE(m$sdr$pdHess))
  if (length(fixef(m)$zi)) {
    out$fixef_zi <- named(fixef(m)$zi)
    se_zi <- sqrt(diag(vcov(m)$zi))
    out$se_zi <- named(setNames(se_zi, sub("^zi~", "", names(se_zi))))
  }
  out$family_params <- switch(family,
    negbinomial = list(phi = sigma(m)),
    nbinom1 = list(alpha = sigma(m)),
    gamma = list(shape = 1 / sigma(m)^2),
    beta = list(phi = sigma(m)),
    beta_binomial = list(phi = sigma(m)),
    student_t = list(sigma = sigma(m), nu = as.numeric(family_params(m))),
    zero_inflated_poisson = list(zi = plogis(fixef(m)$zi[[1]])),
    zero_inflated_negbinomial = list(phi = sigma(m), zi = plogis(fixef(m)$zi[[1]])),
    hurdle_poisson = list(hu = plogis(fixef(m)$zi[[1]])),
    hurdle_negbinomial = list(phi = sigma(m), hu = plogis(fixef(m)$zi[[1]])),
    list())
  out
}

fit_one <- function(name, spec) {
  d <- read_data(spec$data)
  call <- str2lang(spec$r_call)
  warned <- character()
  keep <- function(w) { warned <<- c(warned, conditionMessage(w)); invokeRestart("muffleWarning") }
  start <- proc.time()[["elapsed"]]
  m <- withCallingHandlers(eval(call, list(d = d)), warning = keep)
  result <- list(id = name, r_call = spec$r_call, family = spec$family, n = nobs(m))
  if (inherits(m, "merMod") && isLMM(m)) {
    result$engine <- "lme4::lmer"
    result$REML <- mer_block(m)
    ml <- withCallingHandlers(update(m, REML = FALSE), warning = keep)
    result$ML <- mer_block(ml)
    result$family_params <- if (spec$family == "gaussian") list() else list(sigma = sigma(ml))
  } else if (inherits(m, "merMod")) {
    result$engine <- "lme4::glmer"
    result <- c(result, mer_block(m), list(family_params = list()))
  } else {
    result$engine <- "glmmTMB"
    result <- c(result, tmb_result(m, spec$family))
  }
  result$seconds <- proc.time()[["elapsed"]] - start
  X <- getME(m, "X")
  # each fixed effect's term label ("(Intercept)", "lbase:trt", ...): maps R's names onto bayesmm's
  result$fixef_terms <- list(names = colnames(X),
                             labels = c("(Intercept)", attr(terms(nobars(formula(m))), "term.labels"))[attr(X, "assign") + 1])
  result$warnings <- unique(warned)
  result$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                          glmmTMB = as.character(packageVersion("glmmTMB")))
  result
}

models <- read_models(file.path(here, "models.toml"))
only <- commandArgs(TRUE)
if (length(only)) models <- models[only]
dir.create(file.path(here, "reference"), showWarnings = FALSE)
total <- proc.time()[["elapsed"]]
for (name in names(models)) {
  result <- tryCatch(fit_one(name, models[[name]]), error = function(e) { message(name, ": ", conditionMessage(e)); NULL })
  if (is.null(result)) next
  write_json(result, file.path(here, "reference", paste0(name, ".json")), auto_unbox = TRUE, digits = NA, pretty = TRUE)
  cat(sprintf("%-24s %-10s %6.2f s%s\n", name, result$engine, result$seconds,
              if (length(result$warnings)) paste0("  (", length(result$warnings), " warning(s))") else ""))
}
cat(sprintf("total %.1f s\n", proc.time()[["elapsed"]] - total))
