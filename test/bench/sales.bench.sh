#!/bin/bash
# test/bench/sales.bench.sh: cost of gapless invoice numbers.
#
# Two sessions issue invoices with crm.issue_invoice (pgbench -c 2), each
# transaction billing a different confirmed order of two lines (and queueing
# the invoice_issued email to the order's contact).  Variants,
# measured side by side in one cluster and one run:
#   gapless    crm as shipped: the year's counter row is locked from the
#              moment the number is taken until the issuing transaction ends
#   sequence   the same issuing path, numbers from a plain sequence (no lock;
#              numbers may have gaps after rollbacks)
# with synchronous_commit on (the default, and what invoices deserve: the
# counter lock then spans the WAL flush) and off.  Between runs the invoices
# are removed, so every run starts from the same tables.  Runs are short and
# come in pairs (one of each variant, the order alternating), and the ratio is
# the median of the pairs' ratios: on a shared machine the load drifts, and a
# pair sees about the same load for both of its runs.
set -euo pipefail
PAIRS=${PAIRS:-9}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
ORDERS=${ORDERS:-60000}

. "$(dirname "$0")/lib.sh"
bench_cluster sales 55434 \
	"shared_buffers = '512MB'" \
	"max_wal_size = '4GB'" \
	"checkpoint_timeout = '30min'"

echo "loading $ORDERS confirmed orders of two lines..."
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm;
CREATE SCHEMA bench;
INSERT INTO crm.account (name) VALUES ('bench customer');
INSERT INTO crm.contact (account_id, name, email) VALUES (1, 'bench contact', 'billing@customer.example.com');
INSERT INTO crm.product (sku, name, unit_price, currency) VALUES ('B-1', 'course', 1999, 'CNY'), ('B-2', 'book', 49.90, 'CNY');
INSERT INTO crm.sales_order (account_id, contact_id, currency) SELECT 1, 1, 'CNY' FROM generate_series(1, $ORDERS);
INSERT INTO crm.sales_order_item (sales_order_id, product_id, quantity, discount, tax_rate)
SELECT o.id, p.id, 1 + o.id % 40, 0.1, 0.06 FROM crm.sales_order o CROSS JOIN crm.product p;
CREATE SEQUENCE bench.order_pick;
CREATE SEQUENCE bench.invoice_number;
-- the shipped numbering, to switch back to after the sequence variant
CREATE TABLE bench.numbering AS
SELECT pg_get_functiondef('crm.take_invoice_number()'::regprocedure) AS gapless,
       \$def\$CREATE OR REPLACE FUNCTION crm.take_invoice_number(OUT number text, OUT issue_date date)
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS \$\$
BEGIN
    issue_date := crm.invoice_calendar_date(clock_timestamp());
    number := format('INV-%s-%s', extract(year FROM issue_date), lpad(nextval('bench.invoice_number')::text, 6, '0'));
END \$\$\$def\$ AS sequence;
VACUUM ANALYZE;
CHECKPOINT;
SQL

cat >"$dir/issue.sql" <<'EOF'
SELECT crm.issue_invoice(nextval('bench.order_pick'));
EOF

reset_invoices() {
	q <<'SQL' >/dev/null
SET session_replication_role = replica;
DELETE FROM crm.invoice_line;
DELETE FROM crm.invoice_status_history;
DELETE FROM crm.invoice;
DELETE FROM crm.email_outbox;
RESET session_replication_role;
DELETE FROM crm.invoice_number_counter;
ALTER SEQUENCE bench.order_pick RESTART;
ALTER SEQUENCE bench.invoice_number RESTART;
VACUUM ANALYZE crm.invoice, crm.invoice_line, crm.invoice_status_history, crm.invoice_number_counter, crm.sales_order,
    crm.email_outbox;
CHECKPOINT;
SQL
}


run() {	# run VARIANT SYNC: issue invoices for SECONDS_PER_RUN, print the tps
	local variant=$1 sync=$2 t check
	q -c "SELECT $variant || ';' FROM bench.numbering" | q >/dev/null
	reset_invoices
	t=$(PGOPTIONS="-c synchronous_commit=$sync" \
		pgbench -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$dir/issue.sql" 2>"$dir/pgbench.err" |
		sed -nE 's/^tps = ([0-9.]+).*/\1/p')
	if [ -z "$t" ] || grep -q 'aborted\|ERROR' "$dir/pgbench.err"; then
		echo "pgbench failed ($variant, synchronous_commit $sync):" >&2
		tail -n 5 "$dir/pgbench.err" >&2
		exit 1
	fi
	check=$(q -c "SELECT count(*) || ' invoices, highest number ' || max(substr(number, 10)::int)
	                        || ', ' || count(DISTINCT number) || ' distinct' FROM crm.invoice")
	printf '    %-8s %8.0f tps   (%s)\n' "$variant" "$t" "$check" >&2
	echo "$t"
}

declare -A tps ratios
for sync in on off; do
	for pair in $(seq "$PAIRS"); do
		echo "  synchronous_commit $sync, pair $pair" >&2
		if [ $((pair % 2)) -eq 1 ]; then
			g=$(run gapless $sync); s=$(run sequence $sync)
		else
			s=$(run sequence $sync); g=$(run gapless $sync)
		fi
		tps[gapless.$sync]+="$g "
		tps[sequence.$sync]+="$s "
		ratios[$sync]+="$(awk -v g="$g" -v s="$s" 'BEGIN { print g / s }') "
	done
done
q -c "SELECT gapless || ';' FROM bench.numbering" | q >/dev/null

med() { echo "$1" | tr ' ' '\n' | grep . | median; }
echo
echo "invoice issuing, 2 sessions (pgbench -c 2 -j 2), $PAIRS pairs of ${SECONDS_PER_RUN}-second runs, medians"
printf '%-20s %14s %14s %26s\n' synchronous_commit "gapless tps" "sequence tps" "gapless / sequence (pairs)"
for sync in on off; do
	awk -v sync="$sync" -v g="$(med "${tps[gapless.$sync]}")" -v s="$(med "${tps[sequence.$sync]}")" \
		-v r="$(med "${ratios[$sync]}")" -v lo="$(echo "${ratios[$sync]}" | tr ' ' '\n' | grep . | sort -g | head -1)" \
		-v hi="$(echo "${ratios[$sync]}" | tr ' ' '\n' | grep . | sort -g | tail -1)" \
		'BEGIN { printf "%-20s %14.0f %14.0f %12.3f  (%.2f .. %.2f)\n", sync, g, s, r, lo, hi }'
done
