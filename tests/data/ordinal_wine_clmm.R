# Reference numbers for tests/test_ordinal.py: the ordinal package's clmm fit of the wine data
# (Christensen's clmm tutorial), rating ~ temp + contact + (1 | judge), cumulative logit, by the
# Laplace approximation (clmm's default, the tutorial's numbers) and by 10-point adaptive
# Gauss-Hermite quadrature. Not run by the tests (R stays out of the test run):
#   Rscript tests/data/ordinal_wine_clmm.R > tests/data/ordinal_wine_clmm.out
suppressPackageStartupMessages(library(ordinal))
cat("ordinal", as.character(packageVersion("ordinal")), "\n")
data(wine)
print(summary(clmm(rating ~ temp + contact + (1 | judge), data = wine)))
print(summary(clmm(rating ~ temp + contact + (1 | judge), data = wine, nAGQ = 10)))
