# Reference values for delivery groups (partially nested designs) and cluster-randomized trials
# (R 4.2.2, lme4 1.1-31, lmerTest 3.1-3). Run from this folder:
#   Rscript groups_ref.R > groups_lmer.json
# It writes the two simulated trials it fits (synthetic, seeded):
#   groups_trial.csv   3 arms: control (80, no groups), coaching (98 in 14 coaching groups of
#                      4 to 10, each group within one of 4 sites), selfguided (70, no groups);
#                      visits baseline, month2, month4; about 12% of post-baseline scores
#                      missing. `group` is empty for participants who are not grouped.
#   cluster_trial.csv  12 sites randomized 6 : 6 (control, coaching), 8 to 25 participants a
#                      site, visits baseline and month4, about 15% of month-4 scores missing.
# Delivery groups form when delivery starts, so the group random intercept applies to a grouped
# participant's post-baseline rows (gpost = 1), and an ungrouped participant is its own group
# (gpost = 0 on all its rows: no group variance).
suppressMessages({library(lme4); library(lmerTest)})

set.seed(20250612)
visits <- c("baseline", "month2", "month4")
n_arm <- c(control = 80, coaching = 98, selfguided = 70)
sizes <- c(4, 5, 5, 6, 6, 7, 7, 7, 8, 8, 8, 9, 8, 10)  # 14 coaching groups, 98 coached
stopifnot(sum(sizes) == n_arm[["coaching"]])
arm <- rep(names(n_arm), n_arm)
pid <- sprintf("P%03d", seq_along(arm))
group <- rep("", length(arm))
group[arm == "coaching"] <- rep(sprintf("G%02d", seq_along(sizes)), sizes)
group_site <- setNames(rep(c("s1", "s2", "s3", "s4"), length.out = length(sizes)),
                       sprintf("G%02d", seq_along(sizes)))
site <- ifelse(group == "", sample(c("s1", "s2", "s3", "s4"), length(arm), replace = TRUE),
               group_site[group])
age <- round(rnorm(length(arm), 25, 2.5), 1)
u_part <- rnorm(length(arm), 0, 5)
u_group <- setNames(rnorm(length(sizes), 0, 2.5), names(group_site))
u_site <- setNames(rnorm(4, 0, 1.5), c("s1", "s2", "s3", "s4"))
rows <- expand.grid(i = seq_along(arm), v = seq_along(visits))
rows <- rows[order(rows$i, rows$v), ]
effect <- c(control = 0, coaching = -3, selfguided = -1)
post <- rows$v > 1
g <- group[rows$i]
score <- 25 + 0.3 * (age[rows$i] - 25) + u_part[rows$i] + u_site[site[rows$i]] +
  ifelse(post, -1 + effect[arm[rows$i]] * (rows$v - 1) / 2, 0) +
  ifelse(post & g != "", u_group[ifelse(g == "", 1, g)], 0) + rnorm(nrow(rows), 0, 4)
d <- data.frame(participant_id = pid[rows$i], arm = arm[rows$i], site = site[rows$i],
                group = g, age = age[rows$i], timepoint = visits[rows$v],
                score = round(score, 3), stringsAsFactors = FALSE)
d <- d[!(d$timepoint != "baseline" & runif(nrow(d)) < 0.12), ]
write.csv(d, "groups_trial.csv", row.names = FALSE, quote = FALSE)

# Cluster-randomized: whole sites allocated.
sites <- sprintf("c%02d", 1:12)
site_arm <- setNames(rep(c("control", "coaching"), 6), sites)
site_n <- setNames(sample(8:25, 12, replace = TRUE), sites)
csite <- rep(sites, site_n)
carm <- site_arm[csite]
cpid <- sprintf("C%03d", seq_along(csite))
cu_site <- setNames(rnorm(12, 0, 3), sites)
cu_part <- rnorm(length(csite), 0, 5)
crows <- expand.grid(i = seq_along(csite), v = 1:2)
crows <- crows[order(crows$i, crows$v), ]
cscore <- 24 + cu_site[csite[crows$i]] + cu_part[crows$i] +
  ifelse(crows$v == 2, -1 - 2.5 * (carm[crows$i] == "coaching"), 0) + rnorm(nrow(crows), 0, 4)
cd <- data.frame(participant_id = cpid[crows$i], arm = carm[crows$i], site = csite[crows$i],
                 timepoint = c("baseline", "month4")[crows$v], score = round(cscore, 3),
                 stringsAsFactors = FALSE)
cd <- cd[!(cd$timepoint == "month4" & runif(nrow(cd)) < 0.15), ]
write.csv(cd, "cluster_trial.csv", row.names = FALSE, quote = FALSE)

# ---- fits -----------------------------------------------------------------------------------
tight <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e6))
prep <- function(x, arms) {
  x$arm <- factor(x$arm, levels = arms)
  x$timepoint <- factor(x$timepoint, levels = unique(c("baseline", "month2", "month4")[
    c("baseline", "month2", "month4") %in% x$timepoint]))
  x
}
summarise <- function(m, contrasts) {
  s <- coef(summary(m))
  vc <- as.data.frame(VarCorr(m))
  sds <- setNames(as.list(vc$sdcor), vc$grp)
  out_contrasts <- lapply(names(contrasts), function(name) {
    L <- setNames(rep(0, length(fixef(m))), names(fixef(m)))
    L[names(contrasts[[name]])] <- contrasts[[name]]
    r <- contest1D(m, L, ddf = "Satterthwaite")
    list(name = name, L = as.list(contrasts[[name]]), estimate = r[["Estimate"]],
         se = r[["Std. Error"]], df = r[["df"]], p = r[["Pr(>|t|)"]])
  })
  list(formula = deparse(formula(m), width.cutoff = 500),
       fixef = as.list(fixef(m)), se = as.list(s[, "Std. Error"]), df = as.list(s[, "df"]),
       sd = sds, reml_loglik = as.numeric(logLik(m)), n_obs = nobs(m),
       contrasts = out_contrasts)
}
repeated_contrasts <- function(arms) {
  out <- list()
  for (a in arms) for (v in c("month2", "month4")) {
    out[[paste0("diff_in_change:", a, ":", v)]] <- setNames(1, paste0("arm", a, ":timepoint", v))
    out[[paste0("diff_in_means:", a, ":", v)]] <- setNames(
      c(1, 1), c(paste0("arm", a), paste0("arm", a, ":timepoint", v)))
  }
  out
}

arms <- c("control", "coaching", "selfguided")
d <- prep(d, arms)
d$gpost <- as.numeric(d$group != "" & d$timepoint != "baseline")
d$dgroup <- ifelse(d$group == "", paste0("self_", d$participant_id), d$group)
d$site <- factor(d$site)
rc <- repeated_contrasts(c("coaching", "selfguided"))

# ANCOVA data: post-baseline rows with the participant's baseline score.
base <- d[d$timepoint == "baseline", c("participant_id", "score")]
names(base)[2] <- "baseline"
a <- merge(d[d$timepoint != "baseline", ], base, by = "participant_id")
a$timepoint <- droplevels(a$timepoint)
a1 <- a[a$timepoint == "month4", ]
a1$grouped <- as.numeric(a1$group != "")
ac <- list("adjusted_diff:coaching" = c(armcoaching = 1),
           "adjusted_diff:selfguided" = c(armselfguided = 1))

cd <- prep(cd, c("control", "coaching"))
cd$site <- factor(cd$site)
cbase <- cd[cd$timepoint == "baseline", c("participant_id", "score")]
names(cbase)[2] <- "baseline"
ca <- merge(cd[cd$timepoint == "month4", ], cbase, by = "participant_id")

fit <- function(f, data) lmer(f, data = data, REML = TRUE, control = tight)
out <- list(
  repeated = summarise(fit(score ~ arm * timepoint + (1 | participant_id) +
                             (0 + gpost | dgroup), d), rc),
  repeated_site_random = summarise(fit(score ~ arm * timepoint + (1 | participant_id) +
                                         (0 + gpost | dgroup) + (1 | site), d), rc),
  repeated_site_fixed_age = summarise(fit(score ~ arm * timepoint + age + site +
                                            (1 | participant_id) + (0 + gpost | dgroup), d), rc),
  ancova = summarise(fit(score ~ arm + baseline + timepoint + (1 | participant_id) +
                           (0 + gpost | dgroup), a), ac),
  ancova_one_post = summarise(fit(score ~ arm + baseline + (0 + grouped | dgroup), a1), ac),
  ancova_one_post_site = summarise(fit(score ~ arm + baseline + (0 + grouped | dgroup) +
                                         (1 | site), a1), ac),
  cluster_repeated = summarise(
    fit(score ~ arm * timepoint + (1 | participant_id) + (1 | site), cd),
    list("diff_in_change:coaching:month4" = c("armcoaching:timepointmonth4" = 1),
         "diff_in_means:coaching:month4" = c(armcoaching = 1, "armcoaching:timepointmonth4" = 1))),
  cluster_ancova = summarise(fit(score ~ arm + baseline + (1 | site), ca),
                             list("adjusted_diff:coaching" = c(armcoaching = 1)))
)
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = 15, pretty = TRUE))
