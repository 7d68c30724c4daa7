# Reference values for the Hodges-Lehmann shift and Wilcoxon rank-sum test (R 4.2.2, stats).
# Run from this folder:  Rscript hodges_lehmann_ref.R > hodges_lehmann.json
# For each case: median(outer(x, y, "-")) (the Hodges-Lehmann estimate, which
# wilcox.test(exact = TRUE) reports where it can), and wilcox.test(x, y, conf.int = TRUE,
# exact = FALSE, correct = TRUE): W, P, CI, and its estimate, a uniroot() zero of a step
# function that is flat at zero between the two middle pairwise differences when their number
# is even, so it can land anywhere in that stretch (tol = 1e-4).
cases <- list(
  even_no_ties = list(x = c(1.1, 2.3, 3.0, 4.2), y = c(0.2, 1.7, 2.9)),
  odd_no_ties = list(x = c(0.31, 1.94, 2.57, -0.42, 3.18), y = c(0.05, 1.12, -0.77)),
  tied_integers = list(x = c(-3, 0, 0, 1, 2, 2, 2, 4, 5, 7, -1, 3), y = c(-4, -2, -2, 0, 0, 1, 1, 3, -1, 2))
)
out <- lapply(cases, function(d) {
  w <- wilcox.test(d$x, d$y, conf.int = TRUE, exact = FALSE, correct = TRUE)
  res <- list(x = d$x, y = d$y, median_pairwise = median(outer(d$x, d$y, "-")),
              statistic = unname(w$statistic), p_value = w$p.value,
              ci_low = w$conf.int[1], ci_high = w$conf.int[2],
              estimate_exact_false = unname(w$estimate))
  if (!any(duplicated(c(d$x, d$y)))) {
    res$estimate_exact_true <- unname(wilcox.test(d$x, d$y, conf.int = TRUE, exact = TRUE)$estimate)
  }
  res
})
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
