# Reference values of R surveillance::farringtonFlexible and earsC for tests/analytics/test_detect.py.
#
# Run from the repository root (Debian: apt-get install r-cran-surveillance):
#   Rscript tests/analytics/reference/farrington_reference.R
# Writes, next to this script:
#   detect_series.csv        period index t (1-based), one column of weekly counts per series,
#                            and pop_<series> population columns (seeded simulations)
#   farrington_reference.csv config, series, t, observed, upper, expected, alarm
#   ears_reference.csv       method, series, t, observed, upper, alarm
# Tests only read the CSVs; they never call R.
suppressMessages(library(surveillance))
here <- tryCatch(dirname(normalizePath(sys.frame(1)$ofile)), error = function(e) NULL)
if (is.null(here)) {
  args <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", args[grep("^--file=", args)])
  here <- dirname(normalizePath(f))
}
set.seed(20261201)
T <- 6 * 52 + 24
t <- seq_len(T)
season <- 1 + 0.35 * sin(2 * pi * t / 52)
series <- list(
  flat     = rpois(T, 8 * season),                                   # no trend, seasonal
  trend    = rpois(T, (3 + 12 * t / T) * season),                    # rising trend
  overdisp = rnbinom(T, size = 3, mu = 6 * season),                  # overdispersed
  sparse   = rpois(T, 1.2 * season)                                  # low counts: limit54 bites
)
# outbreaks in the past (reweighting) and in the judged range (alarms)
series$flat[c(80:82, 290:292)] <- series$flat[c(80:82, 290:292)] + c(15, 20, 12, 14, 18, 10)
series$overdisp[c(150, 300:301)] <- series$overdisp[c(150, 300:301)] + c(30, 25, 25)
series$sparse[c(310:312)] <- series$sparse[c(310:312)] + c(4, 5, 3)
obs <- do.call(cbind, series)
pop <- sapply(seq_along(series), function(j) round(50000 * (1 + 0.002 * j * t)))
colnames(pop) <- names(series)

out <- data.frame(t = t, obs, check.names = FALSE)
for (s in names(series)) out[[paste0("pop_", s)]] <- pop[, s]
write.csv(out, file.path(here, "detect_series.csv"), row.names = FALSE)

configs <- list(
  default         = list(),
  no_trend        = list(trend = FALSE),
  noPeriods10     = list(noPeriods = 10),
  noPeriods10_pw  = list(noPeriods = 10, pastWeeksNotIncluded = 26, trend = FALSE),
  nbPlugin_b3     = list(thresholdMethod = "nbPlugin", b = 3),
  muan_b3_nolimit = list(thresholdMethod = "muan", b = 3, limit54 = c(0, 4)),
  delta_alpha01   = list(alpha = 0.01, w = 2, reweight = FALSE),
  population      = list(populationOffset = TRUE)
)
rows <- list()
for (cfg in names(configs)) {
  x <- sts(observed = obs, frequency = 52, start = c(2000, 1), population = pop)
  res <- suppressWarnings(farringtonFlexible(x, control = configs[[cfg]]))
  rng <- (T - nrow(observed(res)) + 1):T
  for (j in seq_along(series)) {
    rows[[length(rows) + 1]] <- data.frame(
      config = cfg, series = names(series)[j], t = rng,
      observed = observed(res)[, j], upper = upperbound(res)[, j],
      expected = res@control$expected[, j], alarm = alarms(res)[, j])
  }
}
ref <- do.call(rbind, rows)
write.csv(ref, file.path(here, "farrington_reference.csv"), row.names = FALSE)

rows <- list()
for (m in c("C1", "C2", "C3")) {
  x <- sts(observed = obs, frequency = 52, start = c(2000, 1))
  res <- earsC(x, control = list(method = m))
  rng <- (T - nrow(observed(res)) + 1):T
  for (j in seq_along(series)) {
    rows[[length(rows) + 1]] <- data.frame(
      method = m, series = names(series)[j], t = rng,
      observed = observed(res)[, j], upper = upperbound(res)[, j], alarm = alarms(res)[, j])
  }
}
write.csv(do.call(rbind, rows), file.path(here, "ears_reference.csv"), row.names = FALSE)
cat("wrote reference CSVs to", here, "\n")
