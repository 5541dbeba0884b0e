# Reference numbers for tests/test_smooths.py: mgcv's thin plate regression spline in its
# mixed-model form (smoothCon + smooth2random, as brms builds s(x)), and mgcv's REML fits.
# Run from the repository root: Rscript tests/data/smooths_reference.R
# (R 4.2, mgcv 1.8-41 when the committed outputs were written)
library(mgcv)
set.seed(20261208)
n <- 120
x <- runif(n)
g <- factor(sample(rep(sprintf("g%d", 1:8), length.out = n)))
fac <- factor(sample(rep(c("A", "B"), length.out = n)))
u <- rnorm(8, 0, 0.5)
f <- sin(2 * pi * x)
y <- f + u[as.integer(g)] + ifelse(fac == "B", 0.5 * x, 0) + rnorm(n, 0, 0.3)
dat <- data.frame(x = x, y = y, g = g, fac = fac)
write.csv(dat, "tests/data/smooths_data.csv", row.names = FALSE)

out <- list()
# smooth2random of s(x) with k = 10 and k = 5: Xf and the random part Zr
for (k in c(10, 5)) {
  sm <- smoothCon(s(x, k = k), data = dat, absorb.cons = TRUE)[[1]]
  re <- smooth2random(sm, names(dat), type = 2)
  m <- cbind(re$Xf, re$rand[[1]])
  colnames(m) <- c(paste0("Xf_", seq_len(ncol(re$Xf))), paste0("Zr_", seq_len(ncol(re$rand[[1]]))))
  write.csv(m, sprintf("tests/data/smooths_s2r_k%d.csv", k), row.names = FALSE)
}
# s(x, by = fac): one smooth per level
sml <- smoothCon(s(x, by = fac), data = dat, absorb.cons = TRUE)
cols <- list()
for (j in seq_along(sml)) {
  re <- smooth2random(sml[[j]], names(dat), type = 2)
  m <- cbind(re$Xf, re$rand[[1]])
  colnames(m) <- c(paste0(sml[[j]]$by.level, "_Xf_", seq_len(ncol(re$Xf))),
                   paste0(sml[[j]]$by.level, "_Zr_", seq_len(ncol(re$rand[[1]]))))
  cols[[j]] <- m
}
write.csv(do.call(cbind, cols), "tests/data/smooths_s2r_by.csv", row.names = FALSE)

grid <- data.frame(x = seq(0, 1, length.out = 11))
scal <- data.frame(name = character(0), value = numeric(0))
add <- function(name, value) scal <<- rbind(scal, data.frame(name = name, value = value))

# gam(y ~ s(x), REML)
b1 <- gam(y ~ s(x), data = dat, method = "REML")
add("gam1_sigma", sqrt(b1$sig2))
add("gam1_edf", sum(b1$edf))
add("gam1_sp", b1$sp[1])
add("gam1_sds", gam.vcomp(b1)[1, 1])
add("gam1_reml", b1$gcv.ubre)
# gam(y ~ s(x) + s(g, bs = "re"), REML): the mixed model with a group intercept
b2 <- gam(y ~ s(x) + s(g, bs = "re"), data = dat, method = "REML")
add("gam2_sigma", sqrt(b2$sig2))
add("gam2_edf", sum(b2$edf))
vc <- gam.vcomp(b2)
add("gam2_sds", vc[1, 1])
add("gam2_sd_g", vc[2, 1])
# gamm: the same model through lme
b3 <- gamm(y ~ s(x), random = list(g = ~1), data = dat, method = "REML")
add("gamm_sigma", b3$lme$sigma)
add("gamm_sd_g", as.numeric(VarCorr(b3$lme)["(Intercept)", "StdDev"]))
# gam(y ~ s(x, by = fac) + fac, REML)
b4 <- gam(y ~ fac + s(x, by = fac), data = dat, method = "REML")
add("gam4_sigma", sqrt(b4$sig2))
add("gam4_edf", sum(b4$edf))
write.csv(scal, "tests/data/smooths_scalars.csv", row.names = FALSE)

fits <- data.frame(gam1 = fitted(b1), gam2 = fitted(b2), gamm = fitted(b3$lme),
                   gam4 = fitted(b4))
write.csv(fits, "tests/data/smooths_fitted.csv", row.names = FALSE)
pred <- data.frame(x = grid$x, gam1 = predict(b1, grid))
write.csv(pred, "tests/data/smooths_grid.csv", row.names = FALSE)

# s(x, z): the 2-d thin plate spline (k = 30) on a second covariate z (written with the design)
set.seed(5)
dat$z <- runif(nrow(dat))
sm <- smoothCon(s(x, z), data = dat, absorb.cons = TRUE)[[1]]
re <- smooth2random(sm, names(dat), type = 2)
m <- cbind(dat$z, re$Xf, re$rand[[1]])
colnames(m) <- c("z", paste0("Xf_", seq_len(ncol(re$Xf))), paste0("Zr_", seq_len(ncol(re$rand[[1]]))))
write.csv(m, "tests/data/smooths_s2r_2d.csv", row.names = FALSE)

# poisson: gam(..., method = "ML") is the Laplace approximation glmer maximizes
set.seed(7)
pois <- data.frame(x = dat$x, cnt = rpois(nrow(dat), exp(1 + sin(2 * pi * dat$x))))
b5 <- gam(cnt ~ s(x), family = poisson, data = pois, method = "ML")
pois$fitted <- fitted(b5)
write.csv(pois, "tests/data/smooths_poisson.csv", row.names = FALSE)
