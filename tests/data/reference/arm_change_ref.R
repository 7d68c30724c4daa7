# Reference values for each arm's adjusted mean change from baseline (the change_* columns of
# tables/adjusted_means.csv; R 4.2.2, lme4 1.1-31, lmerTest 3.1-3, emmeans 1.8.4).
# Run from this folder:  Rscript arm_change_ref.R > arm_change.csv
# Data: groups_trial.csv (written by groups_ref.R; 3 arms, 248 participants, visits baseline,
# month2, month4, 4 sites, about 12% of post-baseline scores missing).
# `model: repeated` with `site: random` [and age]:
#   lmer(score ~ arm * timepoint [+ age] + (1 | participant_id) + (1 | site), REML)
# emmeans(fit, ~ timepoint | arm, lmer.df = "satterthwaite") and, within each arm,
# contrast(..., "trt.vs.ctrl", ref = "baseline"): the visit's mean minus the baseline mean
# (age at its mean in both, so it cancels), with its SE, Satterthwaite df and 95% CI.
suppressMessages({library(lme4); library(lmerTest); library(emmeans)})
d <- read.csv("groups_trial.csv", stringsAsFactors = FALSE, na.strings = "NA")
d <- d[!is.na(d$score), ]
d$arm <- factor(d$arm, levels = c("control", "coaching", "selfguided"))
d$timepoint <- factor(d$timepoint, levels = c("baseline", "month2", "month4"))
d$site <- factor(d$site)
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
cases <- list(
  site_random = score ~ arm * timepoint + (1 | participant_id) + (1 | site),
  site_random_age = score ~ arm * timepoint + age + (1 | participant_id) + (1 | site)
)
rows <- list()
for (case in names(cases)) {
  fit <- lmer(cases[[case]], data = d, REML = TRUE, control = tight)
  em <- emmeans(fit, ~ timepoint | arm, lmer.df = "satterthwaite")
  ch <- summary(contrast(em, "trt.vs.ctrl", ref = "baseline", adjust = "none"),
                infer = c(TRUE, TRUE), level = 0.95)
  rows[[case]] <- data.frame(
    case = case, arm = as.character(ch$arm),
    timepoint = sub(" - baseline$", "", as.character(ch$contrast)),
    estimate = ch$estimate, se = ch$SE, df = ch$df,
    ci_low = ch$lower.CL, ci_high = ch$upper.CL
  )
}
out <- do.call(rbind, rows)
num <- c("estimate", "se", "df", "ci_low", "ci_high")
out[num] <- lapply(out[num], function(x) sprintf("%.12g", x))
write.csv(out, stdout(), row.names = FALSE, quote = FALSE)
