# Public trial data as the pipeline's raw exports, and R's reference values for them.
# Run from this folder: Rscript make_public_trials.R  (R 4.2, lme4, lmerTest, MASS, HSAUR3 from
# Debian: r-cran-lmertest r-cran-hsaur3). Writes <trial>/*.csv and public_reference.csv.
#
# - btheb: "Beat the Blues" randomized trial (HSAUR3::BtheB, 100 patients, BDI at baseline and
#   2, 3, 5, 8 months, covariates drug and length of episode). ANCOVA over the post visits:
#   lmer(bdi ~ treatment + bdi_pre + visit + drug + length + (1 | subject)), lmerTest df.
# - anorexia: three-arm pre/post study (MASS::anorexia: control, CBT, family therapy; weight in
#   lb before and after). Change = post - pre; per arm vs control: wilcox.test(exact = FALSE,
#   conf.int = TRUE, correct = TRUE) P and CI, Hodges-Lehmann estimate median(outer(x, y, "-"));
#   lm(change ~ Treat + Prewt) for the adjusted mean difference.
# - birthwt: a survey-like cross-section with a sparse covariate (MASS::birthwt, 189 births):
#   glm(low ~ race + age + lwt + smoke + ht, binomial); ht = 1 for only 12 mothers. Wald CIs.
suppressMessages({library(lme4); library(lmerTest); library(MASS)})
data("BtheB", package = "HSAUR3")
rows <- list()
add <- function(trial, outcome, estimand, contrast, timepoint, estimate, se, ci_low, ci_high, df, p, n, call) {
  rows[[length(rows) + 1]] <<- data.frame(trial, outcome, estimand, contrast, timepoint, estimate,
    se, ci_low, ci_high, df, p_value = p, n, r_call = call)
}

## Beat the Blues ---------------------------------------------------------------------------
dir.create("btheb", showWarnings = FALSE)
b <- BtheB
b$subject <- sprintf("BB%03d", seq_len(nrow(b)))
b$arm <- ifelse(b$treatment == "BtheB", "btheb", "tau")
write.csv(data.frame(subject = b$subject, arm = b$arm, drug = b$drug, length = b$length),
  "btheb/participants.csv", row.names = FALSE)
waves <- c(pre = "bdi.pre", m2 = "bdi.2m", m3 = "bdi.3m", m5 = "bdi.5m", m8 = "bdi.8m")
for (w in names(waves)) {
  answered <- !is.na(b[[waves[[w]]]])
  write.csv(data.frame(subject = b$subject[answered], bdi = b[[waves[[w]]]][answered]),
    sprintf("btheb/bdi_%s.csv", w), row.names = FALSE)
}
long <- do.call(rbind, lapply(names(waves)[-1], function(w)
  data.frame(subject = b$subject, arm = b$arm, drug = b$drug, length = b$length,
             bdi_pre = b$bdi.pre, visit = w, bdi = b[[waves[[w]]]])))
long <- long[!is.na(long$bdi), ]
long$arm <- relevel(factor(long$arm), ref = "tau")
long$visit <- factor(long$visit, levels = c("m2", "m3", "m5", "m8"))
call <- "lmer(bdi ~ arm + bdi_pre + visit + drug + length + (1 | subject), REML = TRUE); lmerTest Satterthwaite"
m <- lmer(bdi ~ arm + bdi_pre + visit + drug + length + (1 | subject), data = long, REML = TRUE)
s <- coef(summary(m))["armbtheb", ]
ci <- s[["Estimate"]] + c(-1, 1) * qt(0.975, s[["df"]]) * s[["Std. Error"]]
add("btheb", "bdi", "adjusted_diff", "btheb - tau", "all_post", s[["Estimate"]], s[["Std. Error"]],
  ci[1], ci[2], s[["df"]], s[["Pr(>|t|)"]], length(unique(long$subject)), call)

## Anorexia -----------------------------------------------------------------------------------
dir.create("anorexia", showWarnings = FALSE)
a <- anorexia
a$patient <- sprintf("AN%02d", seq_len(nrow(a)))
a$arm <- c(Cont = "control", CBT = "cbt", FT = "family")[as.character(a$Treat)]
write.csv(data.frame(patient = a$patient, arm = a$arm), "anorexia/participants.csv", row.names = FALSE)
write.csv(data.frame(patient = a$patient, weight = a$Prewt), "anorexia/weight_pre.csv", row.names = FALSE)
write.csv(data.frame(patient = a$patient, weight = a$Postwt), "anorexia/weight_post.csv", row.names = FALSE)
a$change <- a$Postwt - a$Prewt
a$arm <- relevel(factor(a$arm), ref = "control")
fit <- lm(change ~ arm + Prewt, data = a)
for (arm in c("cbt", "family")) {
  x <- a$change[a$arm == arm]; y <- a$change[a$arm == "control"]
  w <- wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)
  add("anorexia", "weight", "hodges_lehmann_shift", paste(arm, "- control"), "post",
    median(outer(x, y, "-")), NA, w$conf.int[1], w$conf.int[2], NA, w$p.value,
    length(x) + length(y),
    "wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE); estimate median(outer(x, y, '-'))")
  s <- coef(summary(fit))[paste0("arm", arm), ]
  ci <- confint(fit)[paste0("arm", arm), ]
  # n: the two arms compared (the pipeline's n; the model is fitted on all three arms)
  add("anorexia", "weight", "adjusted_mean_difference", paste(arm, "- control"), "post",
    s[["Estimate"]], s[["Std. Error"]], ci[[1]], ci[[2]], fit$df.residual, s[["Pr(>|t|)"]],
    length(x) + length(y), "lm(change ~ arm + Prewt), fitted on all 72 patients")
}

## Birth weight ---------------------------------------------------------------------------------
dir.create("birthwt", showWarnings = FALSE)
w <- birthwt
w$mother <- sprintf("BW%03d", seq_len(nrow(w)))
w$smoke <- ifelse(w$smoke == 1, "yes", "no")
w$ht <- ifelse(w$ht == 1, "yes", "no")
write.csv(data.frame(mother = w$mother, age = w$age, lwt = w$lwt, smoke = w$smoke, ht = w$ht),
  "birthwt/mothers.csv", row.names = FALSE)
write.csv(data.frame(mother = w$mother, low = w$low, race = w$race), "birthwt/births.csv",
  row.names = FALSE)
w$race <- factor(w$race, levels = 1:3, labels = c("White", "Black", "Other"))
# epsilon far below glm's default 1e-8, so R's estimates are converged to rounding too
call <- "glm(low ~ race + age + lwt + smoke + ht, family = binomial, epsilon = 1e-14); exp(confint.default())"
g <- glm(low ~ race + age + lwt + smoke + ht, family = binomial, data = w,
  control = glm.control(epsilon = 1e-14, maxit = 100))
for (level in c("Black", "Other")) {
  s <- coef(summary(g))[paste0("race", level), ]
  ci <- exp(confint.default(g)[paste0("race", level), ])
  add("birthwt", "low", "odds_ratio", paste(level, "- White"), "survey", exp(s[["Estimate"]]),
    s[["Std. Error"]], ci[[1]], ci[[2]], NA, s[["Pr(>|z|)"]], nrow(w), call)
}
write.csv(do.call(rbind, rows), "public_reference.csv", row.names = FALSE)
