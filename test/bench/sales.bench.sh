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
# are removed, so every run starts from the same tables.  Rounds alternate
# the order of the variants; medians are reported.
set -euo pipefail
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
ORDERS=${ORDERS:-60000}

dir=$(mktemp -d "${TMPDIR:-/tmp}/crm-bench-sales.XXXXXX")
export PGDATA=$dir/data PGHOST=$dir PGPORT=${PGPORT:-55434} PGDATABASE=postgres PGUSER=postgres
initdb -A trust -E UTF8 --locale=C -U postgres >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $PGPORT
shared_buffers = '512MB'
max_wal_size = '4GB'
checkpoint_timeout = '30min'
autovacuum = off
EOF
pg_ctl -w -l "$dir/log" start >/dev/null
trap 'pg_ctl -m fast stop >/dev/null 2>&1; rm -rf "$dir"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

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

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A tps
for round in $(seq "$ROUNDS"); do
	if [ $((round % 2)) -eq 1 ]; then variants="gapless sequence"; else variants="sequence gapless"; fi
	for sync in on off; do
		for variant in $variants; do
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
			tps[$variant.$sync]+="$t "
			printf '  round %d  synchronous_commit %-3s  %-8s %8.0f tps   (%s)\n' "$round" "$sync" "$variant" "$t" "$check"
		done
	done
done
q -c "SELECT gapless || ';' FROM bench.numbering" | q >/dev/null

echo
echo "invoice issuing, 2 sessions (pgbench -c 2 -j 2 -T $SECONDS_PER_RUN), medians of $ROUNDS rounds"
printf '%-20s %14s %14s %18s\n' synchronous_commit "gapless tps" "sequence tps" "gapless / sequence"
for sync in on off; do
	g=$(echo "${tps[gapless.$sync]}" | tr ' ' '\n' | grep . | median)
	s=$(echo "${tps[sequence.$sync]}" | tr ' ' '\n' | grep . | median)
	awk -v sync="$sync" -v g="$g" -v s="$s" 'BEGIN { printf "%-20s %14.0f %14.0f %18.3f\n", sync, g, s, g / s }'
done
