#!/bin/bash
# test/bench/mail_enqueue.bench.sh: cost of queuing one email.
#
# Single-row enqueue with pgbench, side by side in one cluster and one run:
#   insert        plain INSERT into bench.outbox, a copy of crm.email_outbox
#                 (same columns, defaults, constraints and indexes; no triggers)
#   send_email    crm.send_email: validation, suppression lookup, Message-ID,
#                 INSERT (plus whatever triggers crm.email_outbox has)
#   send_email+key  the same with a fresh idempotency key each call
#   send_template crm.send_template rendering a two-placeholder template
# The suppression list holds 10,000 addresses the benchmark never sends to.
# Each run starts from empty tables after a CHECKPOINT.
# Target: send_email TPS >= 0.8 x insert.  Each round runs every variant
# once (insert first in odd rounds, last in even ones); the ratio column is the median over rounds of each
# variant's TPS over the insert TPS of the same round, which cancels slow
# drifts in background load on a shared machine.  A second table runs all
# variants mixed in the same pgbench runs and compares their mean latencies,
# which no change in background load can favour.  The mail worker is not running (no
# shared_preload_libraries), so only enqueueing is measured.
set -euo pipefail
ROUNDS=${ROUNDS:-7}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-8}
MIXED_ROUNDS=${MIXED_ROUNDS:-5}
CLIENTS=${CLIENTS:-2}

. "$(dirname "$0")/lib.sh"
bench_cluster mail-enqueue 55434 \
	"shared_buffers = '512MB'" \
	"max_wal_size = '4GB'" \
	"checkpoint_timeout = '30min'" \
	"synchronous_commit = off"

q <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION crm;
CREATE SCHEMA bench;
CREATE TABLE bench.outbox (LIKE crm.email_outbox INCLUDING ALL);
INSERT INTO crm.email_suppression (address, reason)
SELECT 'blocked' || g || '@example.com', 'bench' FROM generate_series(1, 10000) g;
INSERT INTO crm.email_template (key, subject, body_text, body_html)
VALUES ('bench', '{{name}}，您的发票已开具', E'您好 {{name}}：\n发票 {{invoice}} 已开具，谢谢！\n',
        '<p>您好 {{name}}：</p><p>发票 {{invoice}} 已开具，谢谢！</p>');
VACUUM ANALYZE;
CHECKPOINT;
SQL

subject='您的发票已开具 Invoice INV-2024-000042 is ready'
body='您好，\n\n您的发票已开具，请查收附件。\nYour invoice is ready; thank you for your business.\n'
cat >"$dir/insert.sql" <<EOF
\set n random(1, 1000000)
INSERT INTO bench.outbox (to_address, subject, body_text, message_id) VALUES ('user' || :n || '@example.com', '$subject', E'$body', gen_random_uuid()::text);
EOF
cat >"$dir/send_email.sql" <<EOF
\set n random(1, 1000000)
SELECT crm.send_email('user' || :n || '@example.com', '$subject', E'$body');
EOF
cat >"$dir/send_email_key.sql" <<EOF
\set n random(1, 1000000)
SELECT crm.send_email('user' || :n || '@example.com', '$subject', E'$body', NULL, gen_random_uuid()::text);
EOF
cat >"$dir/send_template.sql" <<EOF
\set n random(1, 1000000)
SELECT crm.send_template('bench', 'user' || :n || '@example.com', jsonb_build_object('name', '王芳', 'invoice', 'INV-' || :n));
EOF

variants="insert send_email send_email_key send_template"

declare -A tps ratio this_round
for round in $(seq "$ROUNDS"); do
	# odd rounds run insert first, even rounds last, so order effects cancel
	order=$variants
	[ $((round % 2)) -eq 0 ] && order=$(echo $variants | tr ' ' '\n' | tac | tr '\n' ' ')
	for variant in $order; do
		# every run starts from empty tables and a fresh checkpoint
		q -c "SET client_min_messages = warning" -c "TRUNCATE bench.outbox, crm.email_outbox CASCADE" -c "CHECKPOINT"
		t=$(pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" -f "$dir/$variant.sql" \
			2>"$dir/pgbench.err" | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
		if [ -z "$t" ]; then
			echo "pgbench failed for $variant:" >&2
			tail -n 5 "$dir/pgbench.err" >&2
			exit 1
		fi
		tps[$variant]+="$t "
		this_round[$variant]=$t
		printf '  round %d %-15s %8.0f tps\n' "$round" "$variant" "$t"
	done
	for variant in $variants; do
		ratio[$variant]+="$(awk -v t="${this_round[$variant]}" -v t0="${this_round[insert]}" 'BEGIN { print t / t0 }') "
	done
done

echo
echo "mail enqueue, medians of $ROUNDS rounds (pgbench -M prepared -c $CLIENTS -j $CLIENTS -T $SECONDS_PER_RUN, synchronous_commit off)"
printf '%-16s %12s %14s\n' variant "tps" "tps / insert"
for v in $variants; do
	t=$(echo "${tps[$v]}" | tr ' ' '\n' | grep . | median)
	r=$(echo "${ratio[$v]}" | tr ' ' '\n' | grep . | median)
	printf '%-16s %12.0f %14.3f\n' "$v" "$t" "$r"
done
echo "(each run starts from empty tables after a checkpoint; target send_email / insert >= 0.8)"

# Cross-check immune to background load: all variants in the same pgbench
# runs (equal weights), so they share every disturbance; per-script mean
# latency, insert's over each variant's, estimates the same TPS ratio.
declare -A mixed
for round in $(seq "$MIXED_ROUNDS"); do
	q -c "SET client_min_messages = warning" -c "TRUNCATE bench.outbox, crm.email_outbox CASCADE" -c "CHECKPOINT"
	args=()
	for v in $variants; do args+=(-f "$dir/$v.sql@1"); done
	out=$(pgbench -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" "${args[@]}" 2>"$dir/pgbench.err")
	lat=($(echo "$out" | awk '/^SQL script [0-9]+:/ { s = 1 } s && /- latency average =/ { print $5; s = 0 }'))
	if [ ${#lat[@]} -ne 4 ]; then
		echo "mixed pgbench run failed:" >&2
		tail -n 5 "$dir/pgbench.err" >&2
		exit 1
	fi
	i=0
	for v in $variants; do
		mixed[$v]+="$(awk -v l="${lat[$i]}" -v l0="${lat[0]}" 'BEGIN { print l0 / l }') "
		i=$((i + 1))
	done
	printf '  mixed round %d latency ms: %s\n' "$round" "${lat[*]}"
done
echo
echo "same, all variants mixed in each run, medians of $MIXED_ROUNDS runs: insert latency / variant latency"
for v in $variants; do
	printf '%-16s %12s %14.3f\n' "$v" "" "$(echo "${mixed[$v]}" | tr ' ' '\n' | grep . | median)"
done
