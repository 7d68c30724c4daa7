# Reference values for binary outcomes of randomized trials (R 4.2.2, stats). Run from this
# folder:  Rscript binary_ref.R > binary_glm.json
# It writes binary_trial.csv (synthetic, seeded): 3 arms (control, coaching, selfguided),
# 180 participants in 3 sites, age and gender, a 0/1 status (e.g. high emotional exhaustion)
# at baseline, month2 and month4, about 12% of statuses missing at each visit.
#  - Wilson intervals of each arm's proportion at each post visit: prop.test(x, n,
#    correct = FALSE)$conf.int; the Newcombe hybrid score CI of the difference (method 10)
#    from them by its formula;
#  - the odds ratio for arm at each post visit: glm(post ~ arm + baseline + age + gender
#    [+ site], family = binomial) on participants with post status, baseline status and
#    covariates observed (glm.control(epsilon = 1e-14));
#  - separation: at month2 with every participant of baseline status 1 given status 1, the
#    maximum likelihood estimate of the baseline coefficient is infinite; in the limit the
#    other coefficients are the glm fit on the participants with baseline status 0 (baseline
#    term dropped), which is the reference for the arm odds ratios then.
#  - Newcombe (1998) Table II examples: Wilson intervals of 56/70, 48/80, 9/10, 3/10, 5/56, 0/29.
set.seed(20261202)
n <- 180
arm <- rep(c("control", "coaching", "selfguided"), length.out = n)
site <- sample(c("s1", "s2", "s3"), n, replace = TRUE)
age <- round(rnorm(n, 26, 2.5), 1)
gender <- sample(c("man", "nonbinary", "woman"), n, replace = TRUE, prob = c(0.45, 0.1, 0.45))
u <- rnorm(n, 0, 1)
status <- function(shift) as.numeric(runif(n) < plogis(-0.4 + u + shift + 0.05 * (age - 26)))
effect <- c(control = 0, coaching = -0.9, selfguided = -0.3)[arm]
d <- data.frame(participant_id = sprintf("B%03d", 1:n), arm = arm, site = site, age = age,
                gender = gender, baseline = status(0), month2 = status(effect / 2),
                month4 = status(effect), stringsAsFactors = FALSE)
for (v in c("baseline", "month2", "month4")) d[runif(n) < 0.12, v] <- NA
write.csv(d, "binary_trial.csv", row.names = FALSE, na = "")

d$arm <- factor(d$arm, levels = c("control", "coaching", "selfguided"))
d$gender <- factor(d$gender)
d$site <- factor(d$site)
tight <- glm.control(epsilon = 1e-14, maxit = 100)
wilson <- function(x, m) as.numeric(prop.test(x, m, correct = FALSE)$conf.int)
newcombe <- function(x1, n1, x2, n2) {
  w1 <- wilson(x1, n1); w2 <- wilson(x2, n2); p1 <- x1 / n1; p2 <- x2 / n2
  c(p1 - p2, p1 - p2 - sqrt((p1 - w1[1])^2 + (w2[2] - p2)^2),
    p1 - p2 + sqrt((w1[2] - p1)^2 + (p2 - w2[1])^2))
}
odds <- function(m) {
  s <- coef(summary(m))
  rows <- grep("^arm", rownames(s), value = TRUE)
  lapply(setNames(rows, sub("^arm", "", rows)), function(r)
    list(log_or = s[r, "Estimate"], se = s[r, "Std. Error"], p = s[r, "Pr(>|z|)"],
         or = exp(s[r, "Estimate"]), ci_low = exp(s[r, "Estimate"] - qnorm(0.975) * s[r, "Std. Error"]),
         ci_high = exp(s[r, "Estimate"] + qnorm(0.975) * s[r, "Std. Error"])))
}
fit <- function(data, visit, terms) {
  data$post <- data[[visit]]
  keep <- !is.na(data$post) & !is.na(data$baseline)
  m <- glm(reformulate(terms, "post"), family = binomial, data = data[keep, ], control = tight)
  list(call = sprintf("glm(%s ~ %s, binomial)", visit, paste(terms, collapse = " + ")),
       n = sum(keep), odds = odds(m))
}
out <- list(visits = list(), examples = list())
for (v in c("month2", "month4")) {
  obs <- !is.na(d[[v]])
  counts <- lapply(split(d[[v]][obs], d$arm[obs]), function(x) c(sum(x), length(x)))
  arms <- lapply(names(counts), function(a) {
    w <- wilson(counts[[a]][1], counts[[a]][2])
    list(events = counts[[a]][1], n = counts[[a]][2], wilson_low = w[1], wilson_high = w[2])
  })
  names(arms) <- names(counts)
  rd <- lapply(c(coaching = "coaching", selfguided = "selfguided"), function(a) {
    r <- newcombe(counts[[a]][1], counts[[a]][2], counts$control[1], counts$control[2])
    list(estimate = r[1], ci_low = r[2], ci_high = r[3])
  })
  out$visits[[v]] <- list(
    arms = arms, risk_difference = rd,
    adjusted = fit(d, v, c("arm", "baseline", "age", "gender")),
    adjusted_site = fit(d, v, c("arm", "baseline", "age", "gender", "site")),
    unadjusted = fit(d, v, c("arm", "baseline")))
}
# Separation of the baseline status at month2: status 1 at baseline -> status 1 at month2.
s <- d
s$month2[!is.na(s$baseline) & s$baseline == 1 & !is.na(s$month2)] <- 1
limit <- fit(s[!is.na(s$baseline) & s$baseline == 0, ], "month2", c("arm", "age", "gender"))
limit$call <- paste(limit$call, "on the participants with baseline status 0")
out$separated_baseline <- limit
for (x in list(c(56, 70), c(48, 80), c(9, 10), c(3, 10), c(5, 56), c(0, 29))) {
  w <- wilson(x[1], x[2])
  out$examples[[sprintf("%d/%d", x[1], x[2])]] <- list(low = w[1], high = w[2])
}
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
