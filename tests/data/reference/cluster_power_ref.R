# Reference power of a cluster-randomized two-arm comparison at one post visit, for
# tests/test_power_cluster.py (R 4.2.2, stats). Run from this folder:
#   Rscript cluster_power_ref.R > cluster_power.json
# k clusters per arm of m participants; a score's variance is sd_participant^2 + sd_residual^2
# within a cluster plus sd_cluster^2 = icc / (1 - icc) * (sd_participant^2 + sd_residual^2),
# so a cluster mean has variance total * (1 + (m - 1) icc) / m (the design effect over m).
# The comparison of cluster means is a two-sample t test with k per arm (df = 2k - 2):
# power.t.test(n = k, delta, sd = sqrt(total * deff / m), strict = TRUE) (both tails).
cases <- list(
  k10_m10_icc10 = list(k = 10, m = 10, icc = 0.10, delta = 0.5, sd_participant = 1, sd_residual = 1),
  k15_m8_icc20 = list(k = 15, m = 8, icc = 0.20, delta = 0.6, sd_participant = 1, sd_residual = 1)
)
out <- lapply(cases, function(d) {
  total <- (d$sd_participant^2 + d$sd_residual^2) / (1 - d$icc)
  deff <- 1 + (d$m - 1) * d$icc
  sd_mean <- sqrt(total * deff / d$m)
  p <- power.t.test(n = d$k, delta = d$delta, sd = sd_mean, sig.level = 0.05,
                    type = "two.sample", alternative = "two.sided", strict = TRUE)
  c(d, list(design_effect = deff, sd_cluster_mean = sd_mean, df = 2 * d$k - 2,
            power = p$power,
            r_call = sprintf("power.t.test(n = %d, delta = %g, sd = %.15g, sig.level = 0.05, type = 'two.sample', alternative = 'two.sided', strict = TRUE)",
                             d$k, d$delta, sd_mean)))
})
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
