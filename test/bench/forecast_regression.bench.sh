#!/bin/bash
# test/bench/forecast_regression.bench.sh: speed of crm.linreg and crm.logreg.
#
# (c) crm.linreg over 10,000,000 rows with one feature against the built-in
#     regr_slope + regr_intercept on the same table (y, x float8), in one
#     process (max_parallel_workers_per_gather = 0), then with 2 parallel
#     workers.  crm.linreg is timed as crm.linreg(y, ARRAY[x]) (the general
#     form: PostgreSQL builds a one-element array per row) and as
#     crm.linreg(y, x) (the one-feature form, no array).  Rounds alternate
#     between the queries; medians are reported, with the ratio to the
#     built-in.  Target: ≤ 1.3 × the built-in.
# (d) crm.logreg on 100,000 rows × 5 features against scikit-learn
#     LogisticRegression(penalty='none') and statsmodels Logit on the same
#     data (Python times the fit only, the data already in memory; crm's time
#     includes scanning the table).
set -euo pipefail
ROUNDS=${ROUNDS:-5}
ROWS=${ROWS:-10000000}
LOGIT_ROWS=${LOGIT_ROWS:-100000}

. "$(dirname "$0")/lib.sh"
bench_cluster regression 55434 \
	"shared_buffers = '1GB'" \
	"max_wal_size = '4GB'"

echo "loading $ROWS rows (y, x float8)..."
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm;
SELECT setseed(0.42) AS seeded \gset
CREATE TABLE points AS
SELECT x, 3.0 + 0.5 * x + random() AS y FROM (SELECT random() * 100 AS x FROM generate_series(1, $ROWS)) s;
VACUUM ANALYZE points;
SQL

# ms QUERY WORKERS: wall time of one run of QUERY in milliseconds
ms() {
	q <<SQL | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
SET max_parallel_workers_per_gather = $2;
\timing on
$1;
SQL
}
declare -A queries=(
	[builtin]="SELECT regr_slope(y, x), regr_intercept(y, x) FROM points"
	[linreg_array]="SELECT crm.linreg(y, ARRAY[x]) FROM points"
	[linreg_scalar]="SELECT crm.linreg(y, x) FROM points"
)
order="builtin linreg_array linreg_scalar"

# the same model from all three
q <<SQL
SELECT 'check: ' || round(regr_intercept(y, x)::numeric, 9) || ' ' || round(regr_slope(y, x)::numeric, 9) FROM points;
SELECT 'check: ' || round((m -> 'coef' ->> 0)::numeric, 9) || ' ' || round((m -> 'coef' ->> 1)::numeric, 9)
  FROM (SELECT crm.linreg(y, ARRAY[x]) AS m FROM points) s;
SELECT 'check: ' || round((m -> 'coef' ->> 0)::numeric, 9) || ' ' || round((m -> 'coef' ->> 1)::numeric, 9)
  FROM (SELECT crm.linreg(y, x) AS m FROM points) s;
SQL

declare -A t
for workers in 0 2; do
	for name in $order; do ms "${queries[$name]}" "$workers" >/dev/null; done	# warm up
	for round in $(seq "$ROUNDS"); do
		for name in $order; do
			t[$name.$workers]+="$(ms "${queries[$name]}" "$workers") "
		done
	done
done

echo
echo "(c) crm.linreg, $ROWS rows, one feature: median of $ROUNDS runs"
printf '%-44s %10s %10s %12s %10s\n' query "serial ms" "ratio" "2 workers ms" "ratio"
for name in $order; do
	s=$(echo ${t[$name.0]} | tr ' ' '\n' | median)
	p=$(echo ${t[$name.2]} | tr ' ' '\n' | median)
	sb=$(echo ${t[builtin.0]} | tr ' ' '\n' | median)
	pb=$(echo ${t[builtin.2]} | tr ' ' '\n' | median)
	label=${queries[$name]#SELECT }
	awk -v l="${label% FROM points}" -v s="$s" -v sb="$sb" -v p="$p" -v pb="$pb" \
		'BEGIN { printf "%-44s %10.0f %9.2fx %12.0f %9.2fx\n", l, s, s / sb, p, p / pb }'
done

echo
echo "(d) crm.logreg, $LOGIT_ROWS rows × 5 features"
/usr/bin/python3 "$CRM_SRC/test/forecast/regression_bench.py" "$LOGIT_ROWS" "$ROUNDS"
