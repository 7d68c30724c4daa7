# Reference values for logistic regression with a separated factor level (R 4.2.2, stats::glm).
# Run from this folder:  Rscript logistic_separation_ref.R > logistic_separation_glm.json
# It writes logistic_separation.csv: exposure e (levels 1-3, reference 1), covariates site
# (s1-s3, reference s1) and age, and three outcomes, each with one factor level separated:
#   y_covref   every participant at the covariate's reference level s1 is event-free
#   y_expref   every participant at the exposure's reference level 1 is event-free
#   y_covlevel every participant at the covariate's level s3 had the event
# The maximum likelihood estimates involving that level are infinite; in the limit the
# separated rows contribute log(1) = 0 to the log-likelihood, so every other coefficient is
# the glm fit on the data without those rows (the factor releveled to its first remaining
# level). Those fits are the reference; the full-data glm (which stops at a huge coefficient
# with a huge SE, "fitted probabilities numerically 0 or 1") is recorded for comparison.
set.seed(20240611)
n <- 40
d <- data.frame(
  e = sample(1:3, n, replace = TRUE),
  site = sample(c("s1", "s2", "s3"), n, replace = TRUE),
  age = round(rnorm(n, 27, 3), 1)
)
eta <- -0.3 + 0.9 * (d$e == 2) + 1.4 * (d$e == 3) + 0.5 * (d$site == "s2") + 0.08 * (d$age - 27)
y <- as.numeric(runif(n) < plogis(eta))
d$y_covref <- ifelse(d$site == "s1", 0, y)
d$y_expref <- ifelse(d$e == 1, 0, y)
d$y_covlevel <- ifelse(d$site == "s3", 1, y)
write.csv(d, "logistic_separation.csv", row.names = FALSE)

# Converged to rounding: at glm's default epsilon = 1e-8 it stops after 4 iterations here and
# its SEs, computed from the previous iteration's weights, are up to 1e-4 relative off.
tight <- glm.control(epsilon = 1e-14, maxit = 100)
coefs <- function(m) {
  s <- coef(summary(m))
  lapply(setNames(rownames(s), rownames(s)), function(r) list(estimate = s[r, "Estimate"], se = s[r, "Std. Error"], z = s[r, "z value"], p = s[r, "Pr(>|z|)"]))
}
limit_fit <- function(outcome, keep) {
  sub <- d[keep, ]
  sub$e <- factor(sub$e)  # levels present in the rows kept, lowest first
  sub$site <- factor(sub$site)
  m <- glm(reformulate(c("e", "site", "age"), outcome), family = binomial, data = sub,
           control = tight)
  list(call = sprintf("glm(%s ~ factor(e) + factor(site) + age, binomial, control = glm.control(epsilon = 1e-14)) on %d of %d rows", outcome, nrow(sub), n),
       n = nrow(sub), loglik = as.numeric(logLik(m)), coef = coefs(m))
}
full_fit <- function(outcome) {
  m <- suppressWarnings(glm(reformulate(c("factor(e)", "factor(site)", "age"), outcome), family = binomial, data = d))
  list(call = sprintf("glm(%s ~ factor(e) + factor(site) + age, binomial) on all rows", outcome), coef = coefs(m))
}
out <- list(
  covref = list(limit = limit_fit("y_covref", d$site != "s1"), full = full_fit("y_covref")),
  expref = list(limit = limit_fit("y_expref", d$e != 1), full = full_fit("y_expref")),
  covlevel = list(limit = limit_fit("y_covlevel", d$site != "s3"), full = full_fit("y_covlevel"))
)
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
