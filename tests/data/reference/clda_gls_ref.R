# Reference values for `model: clda` with `covariance:` (cLDA with a residual covariance over
# every visit, baseline included; R 4.2.2, nlme 3.1-162). Run from this folder:
#   Rscript clda_gls_ref.R > clda_gls.json
# Data: groups_trial.csv (groups_ref.R; 3 arms, visits baseline, month2, month4, about 12% of
# post-baseline scores missing). The arm-by-post-visit indicators are built by hand (no
# baseline arm term), as in clda_ref.R:
#   gls(score ~ timepoint + coaching_month2 + coaching_month4 + selfguided_month2 +
#       selfguided_month4 [+ age + site], method = "REML",
#       correlation = corSymm(form = ~ v | participant_id),    (unstructured)
#       weights = varIdent(form = ~ 1 | timepoint))
# and the same with corCompSymm / no weights (compound_symmetry). gls gives estimates and
# SEs (its df are not Satterthwaite's and are not recorded); the adjusted means per arm and
# visit are L beta with SE sqrt(L V L'), age at its mean, site levels weighted equally.
suppressMessages({library(nlme); library(jsonlite)})
d <- read.csv("groups_trial.csv", stringsAsFactors = FALSE)
d <- d[!is.na(d$score), ]
d$timepoint <- factor(d$timepoint, levels = c("baseline", "month2", "month4"))
d$v <- as.integer(d$timepoint)
d$site <- factor(d$site)
arms <- c("coaching", "selfguided")
posts <- c("month2", "month4")
for (a in arms) for (p in posts) d[[paste0(a, "_", p)]] <- as.numeric(d$arm == a & d$timepoint == p)
indicators <- paste(outer(arms, posts, paste, sep = "_"), collapse = " + ")
tight <- glsControl(opt = "optim", tolerance = 1e-12, msTol = 1e-14, maxIter = 500,
                    msMaxIter = 500)
summarise <- function(f, structure, adjusted = FALSE) {
  args <- list(model = as.formula(f), data = d, method = "REML", control = tight)
  if (structure == "unstructured") {
    args$correlation <- corSymm(form = ~ v | participant_id)
    args$weights <- varIdent(form = ~ 1 | timepoint)
  } else {
    args$correlation <- corCompSymm(form = ~ 1 | participant_id)
  }
  m <- do.call(gls, args)
  b <- coef(m); V <- vcov(m)
  one <- function(w) {
    L <- setNames(rep(0, length(b)), names(b)); L[names(w)] <- w
    list(estimate = sum(L * b), se = sqrt(as.numeric(t(L) %*% V %*% L)))
  }
  effects <- list()
  for (a in arms) for (p in posts) effects[[paste0(a, ":", p)]] <- one(setNames(1, paste0(a, "_", p)))
  setting <- c("(Intercept)" = 1)
  if (adjusted) {
    setting["age"] <- mean(d$age)
    site_terms <- grep("^site", names(b), value = TRUE)
    setting[site_terms] <- 1 / nlevels(d$site)
  }
  means <- list()
  for (a in c("control", arms)) for (p in levels(d$timepoint)) {
    w <- setting
    if (p != "baseline") {
      w[paste0("timepoint", p)] <- 1
      if (a != "control") w[paste0(a, "_", p)] <- 1
    }
    means[[paste0(a, ":", p)]] <- one(w)
  }
  list(formula = f, structure = structure, effects = effects, means = means,
       reml_loglik = as.numeric(logLik(m)), n_obs = nrow(d),
       n = length(unique(d$participant_id)))
}
out <- list(
  unstructured = summarise(paste("score ~ timepoint +", indicators), "unstructured"),
  unstructured_age_site = summarise(paste("score ~ timepoint +", indicators, "+ age + site"),
                                    "unstructured", adjusted = TRUE),
  compound_symmetry = summarise(paste("score ~ timepoint +", indicators), "compound_symmetry")
)
cat(toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
