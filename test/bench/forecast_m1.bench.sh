#!/bin/bash
# test/bench/forecast_m1.bench.sh: crm.best_model + crm.forecast on all 617
# monthly series of the M1 competition in one GROUP BY, against R's forecast
# package on the same series (seconds per series from R's own run,
# test/forecast/data/m1_monthly_ref.csv: auto.arima and ets, 2 cores).
#
# Prints the median of ROUNDS runs, wall clock and the backend's CPU time
# (the machine is shared, so wall time includes waiting for a core), per
# series, and the ratio to R's auto.arima, ets, and the loop of both
# (thetaf was not timed by R's run; it is cheap).  Target: 20x.
#
# When R's forecast package is installed, R is also timed here, right after
# crm, on the same machine and load (test/forecast/m1_timing.R): ets on the
# first R_ETS_SERIES series (default all 617), auto.arima on the first
# R_ARIMA_SERIES (default 100; it is the slow one), wall and CPU per series.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
R_ETS_SERIES=${R_ETS_SERIES:-617}
R_ARIMA_SERIES=${R_ARIMA_SERIES:-100}
data=$CRM_SRC/test/forecast/data

. "$(dirname "$0")/lib.sh"
bench_cluster m1 55436

q <<SQL
CREATE EXTENSION crm;
CREATE TABLE m1 (id text, part text, t int, y float8);
\copy m1 FROM '$data/m1_monthly.csv' WITH (FORMAT csv, HEADER)
DELETE FROM m1 WHERE part = 'test';
VACUUM ANALYZE m1;
SQL

sql="SELECT count(*), sum(f.yhat) FROM (SELECT id, crm.best_model(y, 12 ORDER BY t) AS m FROM m1 GROUP BY id) s,
     crm.forecast(s.m, 18) f"
cpu_sql="(split_part(pg_read_file('/proc/self/stat'), ' ', 14)::float8
          + split_part(pg_read_file('/proc/self/stat'), ' ', 15)::float8) / 100"
echo "crm: 617 M1 series, crm.best_model + crm.forecast(18), median of $ROUNDS runs..."
for i in $(seq "$ROUNDS"); do
	start=$(date +%s.%N)
	# the backend's user + system CPU seconds, before and after the query
	pid_cpu=$(q <<SQL
SELECT $cpu_sql;
\o /dev/null
$sql;
\o
SELECT $cpu_sql;
SQL
)
	end=$(date +%s.%N)
	cpu=$(echo "$pid_cpu" | awk 'NR == 1 { a = $1 } NR == 2 { printf "%.3f", $1 - a }')
	echo "$start $end $cpu" | awk '{ printf "%.3f %s\n", $2 - $1, $3 }'
done | sort -n | awk -v rounds="$ROUNDS" '{ w[NR] = $1; c[NR] = $2 } END { print w[int((NR + 1) / 2)], c[int((NR + 1) / 2)] }' >"$dir/crm.txt"

awk -F, -v crm="$(cat "$dir/crm.txt")" '
NR > 1 { gsub(/"/, ""); arima += $11; ets += $12; n++ }
END {
	split(crm, c, " "); wall = c[1] / n; cpu = c[2] / n; a = arima / n; e = ets / n
	printf "\n%-46s %12s %12s\n", "617 M1 series, seconds per series", "crm wall", "crm CPU"
	printf "%-46s %12.4f %12.4f\n", "crm.best_model + crm.forecast (one GROUP BY)", wall, cpu
	printf "\n%-30s %10s %14s %14s %8s\n", "R (forecast 8.20, ref file)", "s/series", "vs crm wall", "vs crm CPU", "target"
	printf "%-30s %10.3f %13.0fx %13.0fx %7dx\n", "auto.arima", a, a / wall, a / cpu, 20
	printf "%-30s %10.3f %13.0fx %13.0fx %7dx\n", "ets", e, e / wall, e / cpu, 20
	printf "%-30s %10.3f %13.0fx %13.0fx %7dx\n", "auto.arima + ets (the loop)", a + e, (a + e) / wall, (a + e) / cpu, 20
}' "$data/m1_monthly_ref.csv"

if command -v Rscript >/dev/null && Rscript -e 'library(forecast)' >/dev/null 2>&1; then
	echo
	echo "R timed here, after crm (same machine and load)..."
	{
		Rscript "$CRM_SRC/test/forecast/m1_timing.R" "$data/m1_monthly.csv" ets "$R_ETS_SERIES"
		Rscript "$CRM_SRC/test/forecast/m1_timing.R" "$data/m1_monthly.csv" auto.arima "$R_ARIMA_SERIES"
	} | awk -v crm="$(cat "$dir/crm.txt")" '
	BEGIN { split(crm, c, " "); wall = c[1] / 617; cpu = c[2] / 617
		printf "%-30s %8s %10s %10s %12s %12s %8s\n", "R (measured here)", "series", "wall s", "CPU s", "vs crm wall", "vs crm CPU", "target" }
	{ printf "%-30s %8d %10.3f %10.3f %11.0fx %11.0fx %7dx\n", $1, $2, $3, $4, $3 / wall, $4 / cpu, 20; w[$1] = $3; p[$1] = $4 }
	END { printf "%-30s %8s %10.3f %10.3f %11.0fx %11.0fx %7dx\n", "auto.arima + ets (the loop)", "",
	        w["ets"] + w["auto.arima"], p["ets"] + p["auto.arima"], (w["ets"] + w["auto.arima"]) / wall,
	        (p["ets"] + p["auto.arima"]) / cpu, 20 }'
else
	echo "(R's forecast package is not installed: R not timed here)"
fi
