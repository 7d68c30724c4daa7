# Reference values for the MMRM engine (trialeval.mmrm), made with R 4.2.2, nlme 3.1-162,
# emmeans 1.8.4-1 (Debian packages). Run from this folder: Rscript mmrm_ref.R > mmrm_gls.json
#
# 1. fev_data (R package mmrm, data/fev_data.rda; copied here as fev_data.csv):
#    FEV1 ~ RACE + SEX + ARMCD * AVISIT with each of the seven covariance structures as gls
#    expresses them, REML, and the emmeans LS-mean difference TRT - PBO per visit.
# 2. A seeded 5-visit trial with dropout of this project's making (written to
#    mmrm_dropout.csv): the pipeline's MMRM, score ~ arm * visit + baseline * visit + age +
#    gender + site, unstructured (also toeplitz and ar1), emmeans LS-mean differences per visit
#    per arm against control and LS means per arm per visit.
# 3. The demo coaching trial's emotional exhaustion (mmrm_demo_ee.csv: the ITT scores as the
#    pipeline scores them, written by the library): one post visit, so the MMRM is the
#    ANCOVA score ~ arm + baseline + age + gender + site; emmeans difference and LS means.
# gls is asked to converge tightly; emmeans' df for gls are an approximation (not SAS's
# Satterthwaite), so only estimates and SEs are recorded.
suppressMessages({library(nlme); library(emmeans); library(jsonlite)})
emm_options(opt.digits = FALSE)
tight <- glsControl(opt = "nlminb", tolerance = 1e-12, msTol = 1e-12, maxIter = 500,
                    msMaxIter = 500)

structures <- function(visit_index, visit_factor, subject, t) {
  cor_un <- eval(bquote(corSymm(form = ~ .(visit_index) | .(subject))))
  cor_toep <- eval(bquote(corARMA(form = ~ .(visit_index) | .(subject), p = .(t - 1), q = 0)))
  cor_ar1 <- eval(bquote(corAR1(form = ~ .(visit_index) | .(subject))))
  cor_cs <- eval(bquote(corCompSymm(form = ~ 1 | .(subject))))
  het <- eval(bquote(varIdent(form = ~ 1 | .(visit_factor))))
  # AR(p = t - 1) on t visits spans every positive definite Toeplitz correlation matrix (its
  # partial autocorrelations are free in (-1, 1)): exactly the homogeneous Toeplitz structure.
  list(
    unstructured = list(cor = cor_un, weights = het),
    toeplitz = list(cor = cor_toep, weights = NULL),
    toeplitz_heterogeneous = list(cor = cor_toep, weights = het),
    ar1 = list(cor = cor_ar1, weights = NULL),
    ar1_heterogeneous = list(cor = cor_ar1, weights = het),
    compound_symmetry = list(cor = cor_cs, weights = NULL),
    compound_symmetry_heterogeneous = list(cor = cor_cs, weights = het)
  )
}

fit_gls <- function(formula, data, s) {
  # do.call puts the structures themselves into the call, which emmeans re-evaluates.
  args <- list(model = formula, data = data, method = "REML", correlation = s$cor,
               control = tight)
  if (!is.null(s$weights)) args$weights <- s$weights
  do.call(gls, args)
}

coefs <- function(fit) {
  s <- summary(fit)$tTable
  lapply(setNames(seq_len(nrow(s)), rownames(s)),
         function(i) list(estimate = s[i, "Value"], se = s[i, "Std.Error"]))
}

# ---- 1. fev_data ----------------------------------------------------------------------
load_fev <- function() {
  d <- read.csv("fev_data.csv", stringsAsFactors = FALSE)
  d <- d[!is.na(d$FEV1), ]
  d$RACE <- factor(d$RACE, levels = c("Asian", "Black or African American", "White"))
  d$SEX <- factor(d$SEX, levels = c("Male", "Female"))
  d$ARMCD <- factor(d$ARMCD, levels = c("PBO", "TRT"))
  d$AVISIT <- factor(d$AVISIT, levels = paste0("VIS", 1:4))
  d
}
fev <- load_fev()
fev_out <- list()
for (name in names(structures(quote(VISITN), quote(AVISIT), quote(USUBJID), 4))) {
  s <- structures(quote(VISITN), quote(AVISIT), quote(USUBJID), 4)[[name]]
  fit <- fit_gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, fev, s)
  em <- emmeans(fit, ~ ARMCD | AVISIT, mode = "df.error", data = fev)
  diffs <- as.data.frame(contrast(em, list(TRT_minus_PBO = c(-1, 1))))
  fev_out[[name]] <- list(
    minus2_reml = -2 * as.numeric(logLik(fit)),
    coefficients = coefs(fit),
    lsmean_diff = lapply(seq_len(nrow(diffs)), function(i) list(
      visit = as.character(diffs$AVISIT[i]), estimate = diffs$estimate[i], se = diffs$SE[i]))
  )
}

# ---- 2. a 5-visit trial with dropout ------------------------------------------------------
set.seed(20240611)
n_per_arm <- 50
arms <- c("ctl", "coach", "peer")
visits <- c("baseline", "month1", "month2", "month3", "month6", "month12")  # time order
people <- data.frame(
  pid = sprintf("P%03d", seq_len(3 * n_per_arm)),
  arm = rep(arms, each = n_per_arm),
  site = sample(c("s1", "s2", "s3"), 3 * n_per_arm, replace = TRUE),
  age = round(rnorm(3 * n_per_arm, 26, 2.5), 1),
  gender = sample(c("woman", "man"), 3 * n_per_arm, replace = TRUE, prob = c(0.6, 0.4)),
  stringsAsFactors = FALSE
)
t_all <- length(visits)
sds <- c(6, 6.5, 7, 7.5, 8, 9)
corr <- 0.75^abs(outer(seq_len(t_all), seq_len(t_all), "-"))
chol_cov <- chol(diag(sds) %*% corr %*% diag(sds))
effect <- rbind(ctl = rep(0, t_all), coach = c(0, -1, -2, -3, -3.5, -4),
                peer = c(0, -0.5, -1, -1.5, -2, -2))
site_shift <- c(s1 = 0, s2 = 1.5, s3 = -1)
rows <- list()
for (i in seq_len(nrow(people))) {
  p <- people[i, ]
  mean <- 30 + 0.4 * (p$age - 26) + ifelse(p$gender == "man", -1.5, 0) + site_shift[[p$site]] +
    effect[p$arm, ] - 0.5 * seq(0, t_all - 1) / (t_all - 1)
  score <- mean + as.vector(rnorm(t_all) %*% chol_cov)
  # Monotone dropout (more in control), a few intermittent misses and missing baselines.
  hazard <- ifelse(p$arm == "ctl", 0.12, 0.07)
  last <- t_all
  for (v in 2:t_all) if (runif(1) < hazard) { last <- v - 1; break }
  observed <- seq_len(t_all) <= last & runif(t_all) > 0.05
  if (runif(1) < 0.04) observed[1] <- FALSE
  for (v in which(observed)) {
    rows[[length(rows) + 1]] <- data.frame(p, timepoint = visits[v], score = round(score[v], 2))
  }
}
trial <- do.call(rbind, rows)
write.csv(trial, "mmrm_dropout.csv", row.names = FALSE)

trial <- read.csv("mmrm_dropout.csv", stringsAsFactors = FALSE)
base <- trial[trial$timepoint == "baseline", c("pid", "score")]
names(base)[2] <- "baseline"
post <- merge(trial[trial$timepoint != "baseline", ], base, by = "pid")
post$arm <- factor(post$arm, levels = arms)
post$visit <- factor(post$timepoint, levels = visits[-1])
post$vnum <- as.integer(post$visit)
post$gender <- factor(post$gender)
post$site <- factor(post$site)
post <- post[order(post$pid, post$vnum), ]
dropout_out <- list(
  n_participants = length(unique(trial$pid)),
  n_analysed = length(unique(post$pid)),
  n_without_baseline = length(setdiff(unique(trial$pid), base$pid)),
  n_obs = nrow(post)
)
for (name in c("unstructured", "toeplitz", "ar1")) {
  s <- structures(quote(vnum), quote(visit), quote(pid), 5)[[name]]
  fit <- fit_gls(score ~ arm * visit + baseline * visit + age + gender + site, post, s)
  em <- emmeans(fit, ~ arm | visit, mode = "df.error", data = post)
  means <- as.data.frame(em)
  diffs <- as.data.frame(contrast(em, "trt.vs.ctrl", ref = 1, adjust = "none"))
  dropout_out[[name]] <- list(
    minus2_reml = -2 * as.numeric(logLik(fit)),
    lsmean_diff = lapply(seq_len(nrow(diffs)), function(i) list(
      contrast = gsub(" ", "", as.character(diffs$contrast[i])),
      visit = as.character(diffs$visit[i]), estimate = diffs$estimate[i], se = diffs$SE[i])),
    lsmeans = lapply(seq_len(nrow(means)), function(i) list(
      arm = as.character(means$arm[i]), visit = as.character(means$visit[i]),
      estimate = means$emmean[i], se = means$SE[i]))
  )
}

# ---- 3. the demo coaching trial (one post visit) ------------------------------------------
demo <- read.csv("mmrm_demo_ee.csv", stringsAsFactors = FALSE)
base <- demo[demo$timepoint == "baseline", c("participant_id", "score")]
names(base)[2] <- "baseline"
post <- merge(demo[demo$timepoint == "month4", ], base, by = "participant_id")
post$arm <- factor(post$arm, levels = c("control", "coaching"))
post$gender <- factor(post$gender)
post$site <- factor(post$site)
fit <- gls(score ~ arm + baseline + age + gender + site, data = post, method = "REML")
em <- emmeans(fit, ~ arm, mode = "df.error", data = post)
diff <- as.data.frame(contrast(em, "trt.vs.ctrl", ref = 1))
means <- as.data.frame(em)
demo_out <- list(
  n_analysed = nrow(post), df_residual = fit$dims$N - fit$dims$p,
  lsmean_diff = list(estimate = diff$estimate, se = diff$SE),
  lsmeans = lapply(seq_len(nrow(means)), function(i) list(
    arm = as.character(means$arm[i]), estimate = means$emmean[i], se = means$SE[i]))
)

cat(toJSON(list(
  made_with = paste(R.version.string, "nlme", packageVersion("nlme"), "emmeans",
                    packageVersion("emmeans")),
  fev_data = fev_out,
  dropout = dropout_out,
  demo_ee = demo_out
), auto_unbox = TRUE, digits = NA, pretty = TRUE))
