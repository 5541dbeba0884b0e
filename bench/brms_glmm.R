# brms (rstan) fit of one benchmark model, timed: the brms row of bench/run.py (issue #16).
#
#   Rscript bench/brms_glmm.R SPEC.json
#
# SPEC.json (written by bench/brms_fit.py): data (a CSV path), formula (brms syntax), family
# (gaussian, bernoulli, binomial, poisson), factors ({column: [levels in order]}: made R
# factors with these levels, so treatment contrasts use the same reference level as pyglmm),
# chains, iter (tuning + draws per chain), warmup, cores, seed, out (the result JSON's path).
#
# Two timed steps, both counted in wall_s:
#   compile: brm(..., chains = 0) builds the Stan program and compiles it (C++) without sampling;
#   sample:  update(compiled, recompile = FALSE, chains, iter, warmup, cores, seed) samples.
# The result: wall_s, build_s (the compile step; brms builds its data and code inside it),
# compile_s (the same), sample_s, divergences, steps_per_draw (mean n_leapfrog__ after warm-up),
# maxdepth_frac, and over the parameters b_*, sd_*, cor_*, sigma (not r_*, lp__, lprior):
# min bulk / tail ESS and max R-hat (posterior::summarise_draws, the rank-normalized versions
# ArviZ computes too) with the parameters' names, n_params, and the versions of R, brms, rstan.

suppressPackageStartupMessages({
  library(jsonlite)
  library(brms)
  library(posterior)
})

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 1) stop("usage: Rscript brms_glmm.R SPEC.json")
spec <- fromJSON(args[[1]], simplifyVector = TRUE)

df <- read.csv(spec$data, stringsAsFactors = FALSE)
for (col in names(spec$factors)) {
  df[[col]] <- factor(as.character(df[[col]]), levels = spec$factors[[col]])
}
family <- switch(spec$family,
  gaussian = gaussian(),
  bernoulli = bernoulli(),
  binomial = binomial(),
  poisson = poisson(),
  stop("unsupported family: ", spec$family)
)

t0 <- proc.time()[["elapsed"]]
compiled <- brm(bf(spec$formula), data = df, family = family, chains = 0, silent = 2,
                refresh = 0)
t1 <- proc.time()[["elapsed"]]
fit <- update(compiled, recompile = FALSE, chains = spec$chains, iter = spec$iter,
              warmup = spec$warmup, cores = spec$cores, seed = spec$seed, silent = 2,
              refresh = 0)
t2 <- proc.time()[["elapsed"]]

draws <- as_draws_df(fit)
keep <- grep("^(b_|sd_|cor_|sigma$)", variables(draws), value = TRUE)
summ <- summarise_draws(subset_draws(draws, variable = keep), "ess_bulk", "ess_tail", "rhat")
sampler <- rstan::get_sampler_params(fit$fit, inc_warmup = FALSE)
steps <- unlist(lapply(sampler, function(s) s[, "n_leapfrog__"]))
divergent <- unlist(lapply(sampler, function(s) s[, "divergent__"]))
treedepth <- unlist(lapply(sampler, function(s) s[, "treedepth__"]))
max_depth <- 10  # rstan's default max_treedepth

worst <- function(values, fn) summ$variable[fn(values)]
out <- list(
  wall_s = t2 - t0,
  build_s = t1 - t0,
  compile_s = t1 - t0,
  start_s = t1 - t0,
  sample_s = t2 - t1,
  divergences = sum(divergent),
  steps_per_draw = mean(steps),
  maxdepth_frac = mean(treedepth >= max_depth),
  min_ess = min(summ$ess_bulk),
  min_ess_param = worst(summ$ess_bulk, which.min),
  min_ess_tail = min(summ$ess_tail),
  min_ess_tail_param = worst(summ$ess_tail, which.min),
  max_rhat = max(summ$rhat),
  max_rhat_param = worst(summ$rhat, which.max),
  n_params = nrow(summ),
  versions = sprintf("R %s, brms %s, rstan %s", getRversion(), packageVersion("brms"),
                     packageVersion("rstan"))
)
write(toJSON(out, auto_unbox = TRUE, digits = NA), spec$out)
