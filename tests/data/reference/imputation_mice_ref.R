# Reference for the imputation engine (trialeval.imputation.engine) from mice's `norm` method.
# Run from this folder:  Rscript imputation_mice_ref.R > imputation_mice.json
# R 4.2.2, mice 3.15.0. Data: imputation_trial.csv, two simulated 2-arm trials (240
# participants, baseline t0 and visits t1-t3, covariates age and gender), one with monotone
# dropout ("monotone"), one also with intermittent misses and missing baselines
# ("non_monotone"); written by tests/test_imputation.py's simulate() (synthetic).
# Per arm separately, as trialeval imputes: method "norm" (Bayesian linear regression with
# parameter draws) for t0-t3, age and gender complete predictors (gender a factor, treatment
# coded by mice), visits imputed in order t0, t1, t2, t3.
#   monotone:     each visit on age, gender and the earlier visits; maxit = 1 (one sequential
#                 pass: the exact draw for monotone data)
#   non_monotone: each visit on age, gender and all other visits (FCS); maxit = 20
# Imputations are random, so the reference is a distribution: per pattern, arm and visit,
# over m = 400 imputations, the mean and variance across imputations of the completed-data
# mean (qbar and b, Rubin's Q and B) and of the completed-data SD.
suppressMessages(library(mice))
data <- read.csv("imputation_trial.csv", stringsAsFactors = FALSE)
visits <- c("t0", "t1", "t2", "t3")
m <- 400
out <- list()
for (pattern in c("monotone", "non_monotone")) {
  for (arm in c("ctl", "coach")) {
    x <- data[data$pattern == pattern & data$arm == arm, c("age", "gender", visits)]
    x$gender <- factor(x$gender)
    method <- c(age = "", gender = "", t0 = "norm", t1 = "norm", t2 = "norm", t3 = "norm")
    pred <- make.predictorMatrix(x)
    pred[, ] <- 0
    for (k in seq_along(visits)) {
      pred[visits[k], c("age", "gender")] <- 1
      others <- if (pattern == "monotone") visits[seq_len(k - 1)] else visits[-k]
      pred[visits[k], others] <- 1
    }
    imp <- mice(x, m = m, method = method, predictorMatrix = pred, visitSequence = visits,
                maxit = if (pattern == "monotone") 1 else 20, seed = 20261202, printFlag = FALSE)
    for (v in visits) {
      means <- sapply(seq_len(m), function(i) mean(complete(imp, i)[[v]]))
      sds <- sapply(seq_len(m), function(i) sd(complete(imp, i)[[v]]))
      out[[length(out) + 1]] <- list(pattern = pattern, arm = arm, visit = v, m = m,
        n_missing = sum(is.na(x[[v]])), qbar = mean(means), b = var(means),
        sd_mean = mean(sds), sd_var = var(sds))
    }
  }
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
