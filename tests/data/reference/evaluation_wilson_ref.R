# Reference values for the programme-evaluation summaries (trialeval.evaluation; R 4.2.2,
# stats). Run from this folder:  Rscript evaluation_wilson_ref.R > evaluation_wilson.json
# Wilson score intervals without continuity correction, prop.test(x, n, correct = FALSE)
# $conf.int, for the counts agreeing / answering of the mentorship demo's evaluation items
# (39/48, 28/48, 40/47, 43/48; mentors 34/37, 19/37, 33/37), its response rates (48/51,
# 37/59) and the edge counts 0/10, 10/10, 1/3 and 1/1.
counts <- list(c(39, 48), c(28, 48), c(40, 47), c(43, 48), c(34, 37), c(19, 37),
               c(33, 37), c(48, 51), c(37, 59), c(0, 10), c(10, 10), c(1, 3), c(1, 1))
rows <- vapply(counts, function(k) {
  ci <- suppressWarnings(prop.test(k[1], k[2], correct = FALSE)$conf.int)
  sprintf('  {"x": %d, "n": %d, "low": %.15g, "high": %.15g}', k[1], k[2], ci[1], ci[2])
}, character(1))
cat("[\n", paste(rows, collapse = ",\n"), "\n]\n", sep = "")
