# Reference values for `model: ancova` with a single post visit and `site: random`
# (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3). Run from this folder:
#   Rscript ancova_site_ref.R > ancova_site_lmer.json
# ancova_site.csv: the synthetic demo trial coaching_rct, emotional exhaustion (ee), every
# non-withdrawn participant observed at baseline and month 4 (one row per participant).
suppressMessages({library(lme4); library(lmerTest)})
d <- read.csv("ancova_site.csv", stringsAsFactors = FALSE)
d$arm <- relevel(factor(d$arm), ref = "control")
d$gender <- factor(d$gender)  # levels sorted: man (reference), nonbinary, woman
fit <- function(formula) {
  m <- lmer(formula, data = d, REML = TRUE)
  s <- coef(summary(m))  # lmerTest: Satterthwaite df
  arm <- s["armcoaching", ]
  q <- qt(0.975, arm[["df"]])
  vc <- as.data.frame(VarCorr(m))
  list(formula = deparse(formula), estimate = arm[["Estimate"]], se = arm[["Std. Error"]],
       df = arm[["df"]], p = arm[["Pr(>|t|)"]],
       ci_low = arm[["Estimate"]] - q * arm[["Std. Error"]],
       ci_high = arm[["Estimate"]] + q * arm[["Std. Error"]],
       sd_site = vc$sdcor[vc$grp == "site"], sd_residual = vc$sdcor[vc$grp == "Residual"],
       reml_loglik = as.numeric(logLik(m)), n = nobs(m))
}
out <- list(
  unadjusted = fit(post ~ arm + baseline + (1 | site)),
  adjusted = fit(post ~ arm + baseline + age + gender + (1 | site))
)
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 12, pretty = TRUE))
