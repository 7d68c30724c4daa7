# Reference values for each group's adjusted mean change in a pre/post ANCOVA (the
# adjusted_change* columns of tables/prepost_summary.csv; R 4.2.2, emmeans 1.8.4).
# Run from this folder:  Rscript prepost_ancova_ref.R > prepost_ancova.json
# Data: prepost_ancova.csv (tests/test_prepost.py::small_trial, seed 5: 80 participants,
# P003 and P010 without a pre score, P005 without a post score; gender with a rare level).
#   fit <- lm(change ~ arm + pre + age + gender + site)   (references control, man, a_site)
#   summary(emmeans(fit, ~ arm, weights = "proportional"), level = 0.95)
# Proportional weights: the categorical covariates averaged over their observed levels'
# shares, numeric ones at their means; the groups' difference is the arm coefficient.
suppressMessages(library(emmeans))
d <- read.csv("prepost_ancova.csv", stringsAsFactors = FALSE, na.strings = "NA")
d <- d[!is.na(d$pre) & !is.na(d$post), ]
d$change <- d$post - d$pre
d$arm <- factor(d$arm, levels = c("control", "mentored"))
d$gender <- factor(d$gender, levels = c("man", "nonbinary", "woman"))
d$site <- factor(d$site, levels = c("a_site", "b_site"))
fit <- lm(change ~ arm + pre + age + gender + site, data = d)
em <- summary(emmeans(fit, ~ arm, weights = "proportional"), level = 0.95)
f <- function(x) sprintf("%.12g", x)
rows <- sprintf('  "%s": {"estimate": %s, "se": %s, "df": %s, "ci_low": %s, "ci_high": %s}',
                em$arm, f(em$emmean), f(em$SE), f(em$df), f(em$lower.CL), f(em$upper.CL))
cat("{\n", paste(rows, collapse = ",\n"), ",\n",
    sprintf('  "n": %d, "arm_coefficient": %s\n}\n', nrow(d), f(coef(fit)[["armmentored"]])),
    sep = "")
