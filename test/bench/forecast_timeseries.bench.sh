#!/bin/bash
# test/bench/forecast_timeseries.bench.sh: time-series models in SQL against
# a statsmodels loop, side by side in one run on the same series.
#
#   (a) SERIES series x 36 months: crm.arima(y, 1, 1, 1) + crm.forecast(m, 3)
#       in one GROUP BY query, vs statsmodels ARIMA(y, order=(1, 1, 1)).fit()
#       + get_forecast(3) per series (target: 50x faster);
#   (b) the same with additive Holt-Winters, season 12: crm.holt_winters vs
#       ExponentialSmoothing(trend='add', seasonal='add',
#       initialization_method='estimated').fit() + forecast(3) (target: 100x).
# The crm query runs ROUNDS times (median reported); the statsmodels loop
# once.  Also printed: how the two estimates compare (ARIMA log-likelihood,
# Holt-Winters SSE) on the same series.
set -euo pipefail
SERIES=${SERIES:-1000}
ROUNDS=${ROUNDS:-3}
PYTHON=/usr/bin/python3

. "$(dirname "$0")/lib.sh"
bench_cluster forecast 55434 \
	"shared_buffers = '256MB'"

# The series: monthly revenue-like data, trend + yearly season + noise, fixed seed.
"$PYTHON" - "$SERIES" "$dir/series.csv" <<'PY'
import sys
import numpy as np
count, path = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(2024)
t = np.arange(36)
with open(path, "w") as out:
    for s in range(count):
        level = rng.uniform(50, 500)
        y = (level + rng.normal(0.5, 0.5) * level / 100 * t
             + rng.uniform(0.05, 0.2) * level * np.sin(2 * np.pi * (t + rng.integers(12)) / 12)
             + np.cumsum(rng.normal(0, level / 100, 36)) + rng.normal(0, level / 50, 36))
        for i, v in enumerate(y):
            out.write("%d,%d,%r\n" % (s, i + 1, float(v)))
PY
q <<SQL
CREATE EXTENSION crm;
CREATE TABLE bench_series (id int, t int, y float8);
\copy bench_series FROM '$dir/series.csv' WITH (FORMAT csv)
VACUUM ANALYZE bench_series;
SQL

# crm: one GROUP BY query per model, ROUNDS times; prints the median seconds
time_crm() {
	local sql=$1 i
	for i in $(seq "$ROUNDS"); do
		q -c '\timing on' -c "$sql" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
	done | sort -n | awk '{ t[NR] = $1 } END { printf "%.3f\n", t[int((NR + 1) / 2)] / 1000 }'
}
arima_sql="SELECT count(*) FROM (SELECT id, crm.arima(y, 1, 1, 1 ORDER BY t) AS m FROM bench_series GROUP BY id) s,
           crm.forecast(s.m, 3) f"
hw_sql="SELECT count(*) FROM (SELECT id, crm.holt_winters(y, 12, 'additive' ORDER BY t) AS m FROM bench_series GROUP BY id) s,
        crm.forecast(s.m, 3) f"
echo "crm: $SERIES series, median of $ROUNDS runs..."
crm_arima=$(time_crm "$arima_sql")
crm_hw=$(time_crm "$hw_sql")
q -c "COPY (SELECT id, (crm.arima(y, 1, 1, 1 ORDER BY t) ->> 'loglik') FROM bench_series GROUP BY id) TO STDOUT" \
	>"$dir/crm_arima.txt"
q -c "COPY (SELECT id, (crm.holt_winters(y, 12, 'additive' ORDER BY t) ->> 'sse') FROM bench_series GROUP BY id) TO STDOUT" \
	>"$dir/crm_hw.txt"

echo "statsmodels: the same series in a loop (once)..."
"$PYTHON" - "$dir" "$SERIES" "$crm_arima" "$crm_hw" <<'PY'
import sys, time, warnings
import numpy as np
from statsmodels.tsa.arima.model import ARIMA
from statsmodels.tsa.holtwinters import ExponentialSmoothing
warnings.simplefilter("ignore")  # after the imports: statsmodels sets its own filters

d, count = sys.argv[1], int(sys.argv[2])
crm_arima, crm_hw = float(sys.argv[3]), float(sys.argv[4])
data = np.loadtxt(d + "/series.csv", delimiter=",")
series = [data[data[:, 0] == s, 2] for s in range(count)]

start = time.perf_counter()
llf = []
for y in series:
    res = ARIMA(y, order=(1, 1, 1)).fit()
    res.get_forecast(3).summary_frame(alpha=0.05)
    llf.append(res.llf)
sm_arima = time.perf_counter() - start

start = time.perf_counter()
sse = []
for y in series:
    res = ExponentialSmoothing(y, trend="add", seasonal="add", seasonal_periods=12,
                               initialization_method="estimated").fit()
    res.forecast(3)
    sse.append(res.sse)
sm_hw = time.perf_counter() - start

def column(path):
    return np.array([float(line.split("\t")[1]) for line in sorted(open(path), key=lambda l: int(l.split("\t")[0]))])

# statsmodels' ARIMA(y, (1,1,1)) likelihood is of the undifferenced series
# with a diffuse first point; crm's is of the differences (R's method="ML"),
# so compare the exact one: statsmodels on the differences at its estimate.
crm_llf = column(d + "/crm_arima.txt")
diff_llf = []
for y in series:
    m = ARIMA(np.diff(y), order=(1, 0, 1), trend="n")
    diff_llf.append(max(m.fit().llf, m.fit(method_kwargs={"maxiter": 1000}).llf))
gap = crm_llf - np.array(diff_llf)
ratio = column(d + "/crm_hw.txt") / np.array(sse)

print()
print("%-44s %10s %12s %14s %12s %9s %7s" % ("task (%d series x 36 months)" % count, "crm s", "crm ms/ser",
                                              "statsmodels s", "sm ms/ser", "speedup", "target"))
for name, c, s, target in (("(a) ARIMA(1,1,1) fit + 3-step forecast", crm_arima, sm_arima, 50),
                           ("(b) Holt-Winters additive fit + forecast", crm_hw, sm_hw, 100)):
    print("%-44s %10.3f %12.3f %14.2f %12.2f %8.0fx %6dx" % (name, c, 1000 * c / count, s, 1000 * s / count,
                                                            s / c, target))
print()
print("ARIMA loglik, crm minus statsmodels (differences, best of 2 fits): median %.2g, min %.3g, "
      "better by > 0.01 in %d, worse by > 0.01 in %d" % (np.median(gap), gap.min(), (gap > 0.01).sum(),
                                                           (gap < -0.01).sum()))
print("Holt-Winters SSE, crm / statsmodels: median %.4f, max %.4f, above 1.001 in %d, below 0.999 in %d"
      % (np.median(ratio), ratio.max(), (ratio > 1.001).sum(), (ratio < 0.999).sum()))
PY
