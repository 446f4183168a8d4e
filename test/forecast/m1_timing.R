# test/forecast/m1_timing.R: R's forecast package timed on this machine, for
# test/bench/forecast_m1.bench.sh to set beside crm in the same run.
#
#   Rscript m1_timing.R M1_CSV METHOD N
#
# Fits METHOD (ets or auto.arima, R's defaults, as in the reference file) to
# the training part of the first N M1 monthly series, one at a time, with an
# 18-month forecast each, and prints "METHOD N wall_s cpu_s" per series
# (cpu = user + system of this process).
suppressMessages(library(forecast))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d <- d[d$part == "train", ]
method <- args[2]
ids <- unique(d$id)
n <- min(length(ids), as.integer(args[3]))
start <- proc.time()
for (i in ids[seq_len(n)]) {
  y <- ts(d$y[d$id == i], frequency = 12)
  fit <- suppressWarnings(if (method == "ets") ets(y) else auto.arima(y))
  invisible(forecast(fit, h = 18))
}
used <- proc.time() - start
cat(sprintf("%s %d %.4f %.4f\n", method, n, used[["elapsed"]] / n,
            (used[["user.self"]] + used[["sys.self"]]) / n))
