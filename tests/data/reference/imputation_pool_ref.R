# Reference values for Rubin's rules with the Barnard-Rubin df (trialeval.imputation.rubin).
# Run from this folder:  Rscript imputation_pool_ref.R > imputation_pool.json
# R 4.2.2, mice 3.15.0: mice::pool.scalar(Q, U, n, k) (rule "rubin1987"), whose df is
# mice:::barnard.rubin(m, b, t, dfcom = n - k); the t interval and two-sided P are formed
# from its qbar, t and df with qt / pt, as summary(pool(...), conf.int = TRUE) forms them.
suppressMessages(library(mice))
set.seed(20261202)
cases <- list(
  # m = 5, a moderate share of missing information, dfcom = 120 - 4
  moderate = list(Q = c(1.82, 2.31, 1.95, 2.60, 2.12), U = c(0.41, 0.38, 0.45, 0.40, 0.43),
                  n = 120, k = 4),
  # m = 3, between-imputation variance dominating, small dfcom = 20 - 3
  small_dfcom = list(Q = c(-0.5, 1.4, 0.3), U = c(0.20, 0.25, 0.22), n = 20, k = 3),
  # dfcom infinite: Rubin's (1987) large-sample df (m - 1) / lambda^2
  infinite_dfcom = list(Q = c(10.1, 9.4, 10.9, 10.3, 9.8, 10.6), U = rep(0.9, 6), n = Inf, k = 1),
  # no between-imputation variance: lambda floored at 1e-4 in barnard.rubin
  no_between = list(Q = rep(3.25, 4), U = c(1.1, 1.2, 1.0, 1.3), n = 250, k = 6),
  # m = 50 drawn at random, dfcom a Satterthwaite-like non-integer (n - k = 187.3)
  m50 = list(Q = rnorm(50, 1.2, 0.45), U = rexp(50, 4) + 0.3, n = 193.3, k = 6)
)
out <- lapply(cases, function(d) {
  p <- pool.scalar(d$Q, d$U, n = d$n, k = d$k)
  se <- sqrt(p$t)
  q <- qt(0.975, p$df)
  list(Q = d$Q, U = d$U, dfcom = d$n - d$k, m = p$m, qbar = p$qbar, ubar = p$ubar, b = p$b,
       t = p$t, df = p$df, r = p$r, fmi = p$fmi, se = se,
       ci_low = p$qbar - q * se, ci_high = p$qbar + q * se,
       p_value = 2 * pt(-abs(p$qbar / se), p$df))
})
# jsonlite writes Inf as a string "Inf"
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
