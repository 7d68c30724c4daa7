# Reference values for `model: clda` (constrained longitudinal data analysis; R 4.2.2,
# lme4 1.1-31, lmerTest 3.1-3). Run from this folder:  Rscript clda_ref.R > clda_lmer.json
# Data: groups_trial.csv (written by groups_ref.R; 3 arms, 248 participants, visits baseline,
# month2, month4, 4 sites, about 12% of post-baseline scores missing).
# cLDA: every visit is the response and the arms share the baseline mean (randomization), so
# the design has visit effects and arm-by-post-visit indicators but no arm main effect:
#   score ~ timepoint + coaching_month2 + coaching_month4 + selfguided_month2 +
#           selfguided_month4 [+ covariates] + (1 | participant_id) [+ (1 | site)]
# The indicators are built by hand (a formula with arm * timepoint would add the baseline arm
# term). The arm effect at a post visit is its indicator's coefficient (lmerTest Satterthwaite
# df); adjusted means per arm per visit are contest1D contrasts with age at its mean.
suppressMessages({library(lme4); library(lmerTest)})
d <- read.csv("groups_trial.csv", stringsAsFactors = FALSE, na.strings = "NA")
d$group[is.na(d$group)] <- ""
d$timepoint <- factor(d$timepoint, levels = c("baseline", "month2", "month4"))
d$site <- factor(d$site)
arms <- c("coaching", "selfguided")
posts <- c("month2", "month4")
for (a in arms) for (v in posts) d[[paste0(a, "_", v)]] <- as.numeric(d$arm == a & d$timepoint == v)
d$gpost <- as.numeric(d$group != "" & d$timepoint != "baseline")
d$dgroup <- ifelse(d$group == "", paste0("self_", d$participant_id), d$group)
indicators <- paste(outer(arms, posts, paste, sep = "_"), collapse = " + ")
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))

summarise <- function(f, age_in_model = FALSE) {
  m <- lmer(as.formula(f), data = d, REML = TRUE, control = tight)
  fe <- fixef(m)
  one <- function(weights) {
    L <- setNames(rep(0, length(fe)), names(fe))
    L[names(weights)] <- weights
    r <- contest1D(m, L, ddf = "Satterthwaite")
    q <- qt(0.975, r[["df"]])
    list(estimate = r[["Estimate"]], se = r[["Std. Error"]], df = r[["df"]],
         p = r[["Pr(>|t|)"]], ci_low = r[["Estimate"]] - q * r[["Std. Error"]],
         ci_high = r[["Estimate"]] + q * r[["Std. Error"]])
  }
  effects <- list()
  for (a in arms) for (v in posts) {
    effects[[paste0(a, ":", v)]] <- one(setNames(1, paste0(a, "_", v)))
  }
  # site levels weighted equally (emmeans' default) when site is a fixed factor
  site_terms <- grep("^site", names(fe), value = TRUE)
  setting <- c("(Intercept)" = 1)
  if (age_in_model) setting["age"] <- mean(d$age[!is.na(d$score)])
  if (length(site_terms)) setting[site_terms] <- 1 / nlevels(d$site)
  means <- list()
  for (a in c("control", arms)) for (v in levels(d$timepoint)) {
    w <- setting
    if (v != "baseline") {
      w[paste0("timepoint", v)] <- 1
      if (a != "control") w[paste0(a, "_", v)] <- 1
    }
    means[[paste0(a, ":", v)]] <- one(w)
  }
  vc <- as.data.frame(VarCorr(m))
  list(formula = f, effects = effects, means = means,
       sd = setNames(as.list(vc$sdcor), vc$grp), reml_loglik = as.numeric(logLik(m)),
       n_obs = nobs(m), n = length(unique(d$participant_id[!is.na(d$score)])))
}
d <- d[!is.na(d$score), ]
out <- list(
  site_none = summarise(paste("score ~ timepoint +", indicators, "+ (1 | participant_id)")),
  site_random_age = summarise(
    paste("score ~ timepoint +", indicators, "+ age + (1 | participant_id) + (1 | site)"),
    age_in_model = TRUE),
  site_fixed = summarise(paste("score ~ timepoint +", indicators, "+ site + (1 | participant_id)")),
  groups = summarise(
    paste("score ~ timepoint +", indicators, "+ (1 | participant_id) + (0 + gpost | dgroup)"))
)
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
