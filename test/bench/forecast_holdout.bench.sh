#!/bin/bash
# test/bench/forecast_holdout.bench.sh: forecast accuracy on series other
# than M1 -- the monthly, quarterly and yearly series of R's datasets
# package and of the forecast package (Debian r-base-core, r-cran-forecast),
# each with its last 2 seasons (monthly 18 points, quarterly 8, yearly 6)
# held out.  crm.best_model and its members against R's ets, auto.arima and
# thetaf on the same training parts, scored as the M1 test scores them
# (sMAPE, and MASE scaled by the in-sample seasonal naive error).  A second
# opinion on the combination rule chosen on M1; not a test: it only prints.
set -euo pipefail

. "$(dirname "$0")/lib.sh"
bench_cluster holdout 55437

echo "R: ets, auto.arima and thetaf on the training parts..."
Rscript - "$dir" <<'R' 2>/dev/null
suppressMessages(library(forecast))
dir <- commandArgs(trailingOnly = TRUE)[1]
names <- c("AirPassengers", "co2", "nottem", "USAccDeaths", "UKDriverDeaths", "ldeaths", "mdeaths", "fdeaths",
           "gas", "wineind", "austres", "JohnsonJohnson", "UKgas", "woolyrnq", "Nile",
           "LakeHuron", "WWWusage", "lynx", "airmiles", "BJsales")
series <- list()
for (n in names) {
  x <- tryCatch(get(n), error = function(e) NULL)
  if (!is.null(x) && is.ts(x) && !any(is.na(x))) series[[n]] <- x
}
smape <- function(f, a) mean(200 * abs(a - f) / (abs(a) + abs(f)))
mase <- function(f, a, x, m) mean(abs(a - f)) / mean(abs(diff(as.numeric(x), lag = m)))
data <- file(file.path(dir, "series.csv"), "w")
ref <- file(file.path(dir, "ref.csv"), "w")
for (n in names(series)) {
  y <- series[[n]]; m <- frequency(y)
  h <- if (m == 12) 18 else if (m == 4) 8 else 6
  x <- head(y, length(y) - h); a <- as.numeric(tail(y, h))
  writeLines(paste(n, m, h, seq_along(x), as.numeric(x), sep = ","), data)
  writeLines(paste(n, "test", h, seq_along(a), a, sep = ","), data)
  fc <- list(ets = forecast(ets(x), h = h)$mean, arima = forecast(auto.arima(x), h = h)$mean,
             theta = thetaf(x, h = h)$mean)
  for (k in names(fc))
    writeLines(paste(n, k, smape(as.numeric(fc[[k]]), a), mase(as.numeric(fc[[k]]), a, x, m), sep = ","), ref)
}
close(data); close(ref)
R

psql -X -q -At -v ON_ERROR_STOP=1 <<SQL
CREATE EXTENSION crm;
CREATE TABLE s (id text, m text, h int, t int, y float8);
\copy s FROM '$dir/series.csv' WITH (FORMAT csv)
CREATE TABLE fits AS
SELECT id, m::int AS m, crm.best_model(y, m::int ORDER BY t) AS model FROM s WHERE m <> 'test' GROUP BY id, m;
\copy (SELECT f.id, 'best', g.step, g.yhat FROM fits f, crm.forecast(f.model, (SELECT max(h) FROM s WHERE s.id = f.id)) g UNION ALL SELECT f.id, e ->> 'kind', g.step, g.yhat FROM fits f, jsonb_array_elements(f.model -> 'members') e, crm.forecast(e, (SELECT max(h) FROM s WHERE s.id = f.id)) g) TO '$dir/crm.csv' WITH (FORMAT csv)
SQL

/usr/bin/python3 - "$dir" <<'PY'
import csv, sys
import numpy as np
d = sys.argv[1]
train, test, season = {}, {}, {}
for row in csv.reader(open(d + "/series.csv")):
    sid, kind, h, t, y = row
    if kind == "test":
        test.setdefault(sid, {})[int(t)] = float(y)
    else:
        season[sid] = int(kind)
        train.setdefault(sid, {})[int(t)] = float(y)
fc = {}
for sid, method, step, yhat in csv.reader(open(d + "/crm.csv")):
    fc.setdefault(method, {}).setdefault(sid, {})[int(step)] = float(yhat)
scores = {}
for method, per in fc.items():
    for sid, f in per.items():
        a = np.array([test[sid][k] for k in sorted(test[sid])])
        f = np.array([f[k] for k in sorted(f)])
        x = np.array([train[sid][k] for k in sorted(train[sid])])
        m = season[sid]
        scores.setdefault("crm " + method, []).append(
            (np.mean(200 * np.abs(a - f) / (np.abs(a) + np.abs(f))), np.mean(np.abs(a - f)) / np.mean(np.abs(x[m:] - x[:-m]))))
for sid, method, sm, ms in csv.reader(open(d + "/ref.csv")):
    scores.setdefault("R " + method, []).append((float(sm), float(ms)))
count = len(train)
print("\n%d series of R's datasets and forecast package, last 2 seasons held out" % count)
print("%-22s %8s %8s" % ("method", "sMAPE", "MASE"))
for name in ("crm best", "crm ets", "crm theta", "crm arima", "R ets", "R arima", "R theta"):
    v = np.array(scores[name])
    print("%-22s %8.3f %8.4f" % (name.replace("crm best", "crm.best_model").replace("R arima", "R auto.arima")
                                 .replace("R theta", "R thetaf"), v[:, 0].mean(), v[:, 1].mean()))
PY
