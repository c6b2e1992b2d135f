# rstanarm 2.21 reference fit of a nested gaussian model (nlme's Machines: score ~ Machine + (1 | Worker/Machine))
# at rstanarm's default priors, for tests/test_priors.py (the `rstanarm` preset). Run from the
# repository root:
#   Rscript validation/reference/rstanarm_machines.R
# It writes tests/reference/machines_nested.rstanarm.json.
library(rstanarm)
library(jsonlite)
machines <- read.csv("validation/corpus/data/machines.csv", stringsAsFactors = TRUE)
seconds <- system.time(
  m <- stan_lmer(score ~ Machine + (1 | Worker/Machine), data = machines, chains = 4, iter = 2000,
                 warmup = 1000, seed = 1, cores = 2, refresh = 0)
)[["elapsed"]]
draws <- as.matrix(m)
# rstanarm stores variances: Sigma[Machine:Worker:(Intercept),(Intercept)], Sigma[Worker:(Intercept),(Intercept)]
columns <- list(
  Intercept = draws[, "(Intercept)"], "Machine[B]" = draws[, "MachineB"], "Machine[C]" = draws[, "MachineC"],
  sigma = draws[, "sigma"],
  "sd(Worker)" = sqrt(draws[, "Sigma[Worker:(Intercept),(Intercept)]"]),
  "sd(Worker:Machine)" = sqrt(draws[, "Sigma[Machine:Worker:(Intercept),(Intercept)]"])
)
summary <- lapply(columns, function(x) list(mean = mean(x), sd = sd(x), q2.5 = unname(quantile(x, 0.025)),
                                            q97.5 = unname(quantile(x, 0.975))))
out <- list(
  id = "machines_nested", formula = "score ~ Machine + (1 | Worker/Machine)", family = "gaussian",
  engine = paste("rstanarm", packageVersion("rstanarm")), chains = 4, iter = 2000, warmup = 1000, seed = 1,
  priors = capture.output(prior_summary(m)), summary = summary,
  divergences = sum(sapply(rstan::get_sampler_params(m$stanfit, inc_warmup = FALSE), function(p) sum(p[, "divergent__"]))),
  seconds = seconds
)
write(toJSON(out, auto_unbox = TRUE, digits = 10, pretty = TRUE), "tests/reference/machines_nested.rstanarm.json")
