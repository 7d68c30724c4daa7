# Reference values for the cohort comparison (design cohort_comparison; R 4.2.2, stats).
# Run from this folder:  Rscript cohort_ref.R > cohort_ref.json
# It writes cohort_data.csv (synthetic, seeded): three cohorts in time order (y2019, y2020,
# y2021; reference y2019) of 34, 30 and 28 students, age and gender, a 0/1 depression screen
# and an emotional-exhaustion score (0-54), and computes:
#  - per cohort: prop.test(x, n, correct = FALSE)$conf.int (Wilson, no continuity correction);
#    median and IQR by quantile() (type 7);
#  - each later cohort vs y2019: the risk difference with Newcombe's hybrid score CI (method 10,
#    from the Wilson intervals), the risk ratio with a Wald CI on the log scale;
#  - glm(depressed ~ cohort + age + gender, binomial) (glm.control(epsilon = 1e-14)):
#    odds ratios with Wald CIs (confint.default); lm(ee ~ cohort + age + gender) and
#    lm(ee ~ cohort): adjusted and unadjusted mean differences, t CIs (confint);
#  - prop.trend.test(x, n) over the three cohorts (scores 1..3), and the two-cohort
#    (y2019, y2020) data set's results (RD, RR, OR, lm) for the two-cohort path;
#  - the linear contrast of the lm's cohort means, weights c = (1:3 - 2) / sum((1:3 - 2)^2):
#    sum(w[-1] * coef[cohort terms]) with its SE from vcov, t on the residual df.
set.seed(20261202)
sizes <- c(y2019 = 34, y2020 = 30, y2021 = 28)
cohort <- rep(names(sizes), sizes)
n <- length(cohort)
step <- match(cohort, names(sizes)) - 1
age <- round(rnorm(n, 25, 2), 1)
gender <- sample(c("man", "woman"), n, replace = TRUE)
depressed <- as.numeric(runif(n) < plogis(-0.6 - 0.7 * step + 0.1 * (age - 25) +
                                            0.3 * (gender == "woman")))
ee <- pmin(54, pmax(0, round(rnorm(n, 24 - 3 * step + 0.5 * (age - 25), 8))))
d <- data.frame(participant_id = sprintf("S%03d", 1:n), cohort = cohort, age = age,
                gender = gender, depressed = depressed, ee = ee, stringsAsFactors = FALSE)
write.csv(d, "cohort_data.csv", row.names = FALSE)

d$cohort <- factor(d$cohort, levels = names(sizes))
d$gender <- factor(d$gender)
tight <- glm.control(epsilon = 1e-14, maxit = 100)
wilson <- function(x, m) as.numeric(prop.test(x, m, correct = FALSE)$conf.int)
newcombe <- function(x1, n1, x0, n0) {
  w1 <- wilson(x1, n1); w0 <- wilson(x0, n0); p1 <- x1 / n1; p0 <- x0 / n0
  list(estimate = p1 - p0, ci_low = p1 - p0 - sqrt((p1 - w1[1])^2 + (w0[2] - p0)^2),
       ci_high = p1 - p0 + sqrt((w1[2] - p1)^2 + (p0 - w0[1])^2))
}
risk_ratio <- function(x1, n1, x0, n0) {
  se <- sqrt(1 / x1 - 1 / n1 + 1 / x0 - 1 / n0); l <- log((x1 / n1) / (x0 / n0))
  list(estimate = exp(l), se = se, ci_low = exp(l - qnorm(0.975) * se),
       ci_high = exp(l + qnorm(0.975) * se), p = 2 * pnorm(-abs(l) / se))
}
terms <- function(m, z) {
  s <- coef(summary(m)); ci <- if (z) confint.default(m) else confint(m)
  rows <- grep("^cohort", rownames(s), value = TRUE)
  lapply(setNames(rows, sub("^cohort", "", rows)), function(r)
    list(estimate = s[r, 1], se = s[r, 2], p = s[r, 4], ci_low = ci[r, 1], ci_high = ci[r, 2]))
}
analyse <- function(d) {
  d$cohort <- droplevels(d$cohort)
  levs <- levels(d$cohort)
  x <- tapply(d$depressed, d$cohort, sum); m <- tapply(d$depressed, d$cohort, length)
  per <- lapply(setNames(levs, levs), function(c) {
    e <- d$ee[d$cohort == c]; q <- quantile(e, c(0.25, 0.5, 0.75))
    list(events = x[[c]], n = m[[c]], ci = wilson(x[[c]], m[[c]]), median = q[[2]],
         q1 = q[[1]], q3 = q[[3]], mean = mean(e), sd = sd(e))
  })
  later <- levs[-1]
  adjusted <- lm(ee ~ cohort + age + gender, data = d)
  out <- list(
    cohorts = per,
    risk_difference = lapply(setNames(later, later), function(c)
      newcombe(x[[c]], m[[c]], x[[1]], m[[1]])),
    risk_ratio = lapply(setNames(later, later), function(c)
      risk_ratio(x[[c]], m[[c]], x[[1]], m[[1]])),
    odds_ratio = terms(glm(depressed ~ cohort + age + gender, binomial, data = d,
                           control = tight), TRUE),
    odds_ratio_unadjusted = terms(glm(depressed ~ cohort, binomial, data = d,
                                      control = tight), TRUE),
    mean_difference = terms(adjusted, FALSE),
    mean_difference_unadjusted = terms(lm(ee ~ cohort, data = d), FALSE),
    df_residual = df.residual(adjusted)
  )
  if (length(levs) > 2) {
    trend <- prop.trend.test(x, m)
    out$trend <- list(statistic = unname(trend$statistic), p = trend$p.value)
    k <- length(levs); c <- (1:k - (k + 1) / 2); w <- c / sum(c^2)
    b <- coef(adjusted)[paste0("cohort", later)]
    V <- vcov(adjusted)[paste0("cohort", later), paste0("cohort", later)]
    est <- sum(w[-1] * b); se <- sqrt(drop(t(w[-1]) %*% V %*% w[-1]))
    df <- df.residual(adjusted); h <- qt(0.975, df) * se
    out$linear_trend <- list(estimate = est, se = se, p = 2 * pt(-abs(est / se), df),
                             ci_low = est - h, ci_high = est + h, df = df)
  }
  out
}
result <- list(three = analyse(d), two = analyse(d[d$cohort != "y2021", ]))
cat(jsonlite::toJSON(result, auto_unbox = TRUE, digits = 15, pretty = TRUE))
