#!/bin/bash
# test/bench/mail_delivery.bench.sh: how fast the mail worker delivers, and
# whether its memory stays flat.
#
# One cluster with crm preloaded, sending over SMTP (no TLS) to postfix's
# smtp-sink on loopback, which accepts everything at once:
#   (b) burst: 20,000 messages queued in one transaction, then drained:
#       sustained messages/s from commit to the last delivery;
#       steady: 20,000 single-message transactions from pgbench (2 clients)
#       while the worker sends: messages/s, and enqueue-to-delivered latency
#       (created_at to the delivery log's finished_at) p50 and p99;
#   (c) the worker's memory after 1,000 delivered messages and after 20,000
#       more (VmRSS, and RssAnon: its private memory; VmRSS also counts the
#       shared buffers it has touched);
#   (d) the worker's CPU time per message in each scenario (user + system,
#       from /proc), which depends far less than messages/s on what else
#       the machine is doing.
# The target is at least 1,000 messages/s; pg_net, a libcurl queue worker,
# drains about 160-190 requests/s at its default batch size.
set -euo pipefail
MESSAGES=${MESSAGES:-20000}
IN_FLIGHT=${IN_FLIGHT:-32}
SINK=${SINK:-/usr/sbin/smtp-sink}

. "$(dirname "$0")/lib.sh"
sink_port=${SINK_PORT:-$((${PGPORT:-55434} + 1000))}
bench_cluster mail 55434 \
	"shared_buffers = '256MB'" \
	"max_wal_size = '4GB'" \
	"shared_preload_libraries = 'crm'" \
	"crm.mail_transport = 'smtp'" \
	"crm.smtp_url = 'smtp://127.0.0.1:$sink_port'" \
	"crm.smtp_starttls = 'off'" \
	"crm.max_in_flight = $IN_FLIGHT"
"$SINK" -c "127.0.0.1:$sink_port" 1024 >"$dir/sink.out" 2>&1 &
bench_at_exit "kill $! 2>/dev/null"

q -c "SET client_min_messages = warning; CREATE EXTENSION crm;"
worker=$(q -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'crm worker'")
[ -n "$worker" ] || { echo "no crm worker"; exit 1; }

now() { date +%s.%N; }
wait_drained() {	# wait_drained PREFIX COUNT
	until [ "$(q -c "SELECT count(*) FROM crm.email_outbox WHERE to_address LIKE '$1%' AND status = 'sent'")" -ge "$2" ]; do
		sleep 0.05
	done
}
rss() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$worker/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }
ticks_per_s=$(getconf CLK_TCK)

enqueue_sql() {	# enqueue_sql PREFIX FROM TO
	echo "SELECT count(crm.send_email('$1' || g || '@example.com', '第 ' || g || ' 封：课程提醒',
	        'Hello ' || g || E',\\n你好，这是一封测试邮件。', '<p>你好 <b>' || g || '</b></p>'))
	   FROM generate_series($2, $3) g"
}

# Warm-up and (c) after 1,000
q -c "$(enqueue_sql warm 1 1000)" >/dev/null
wait_drained warm 1000
rss_1k=$(rss VmRSS)
anon_1k=$(rss RssAnon)

# (b) burst
c0=$(cpu_ticks)
t0=$(now)
q -c "$(enqueue_sql burst 1 "$MESSAGES")" >/dev/null
t1=$(now)
wait_drained burst "$MESSAGES"
t2=$(now)
c1=$(cpu_ticks)

# (b) steady: pgbench enqueues while the worker sends
cat >"$dir/enqueue.sql" <<'EOF'
\set n random(1, 1000000000)
SELECT crm.send_email('steady' || :n || '@example.com', '课程提醒 ' || :n, 'Hello ' || :n, '<p>' || :n || '</p>');
EOF
per_client=$((MESSAGES / 2))
pgbench -n -M prepared -c 2 -j 2 -t "$per_client" -f "$dir/enqueue.sql" >"$dir/pgbench.out" 2>&1 ||
	{ tail -5 "$dir/pgbench.out"; exit 1; }
wait_drained steady $((per_client * 2))
c2=$(cpu_ticks)

# (c) after 20,000 more
rss_21k=$(rss VmRSS)
anon_21k=$(rss RssAnon)

stats() {	# stats PREFIX: count, first created to last delivered (s), p50, p99 (ms)
	q -F ' ' -c "
	SELECT count(*),
	       extract(epoch FROM max(l.finished_at) - min(o.created_at)),
	       1000 * percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM l.finished_at - o.created_at)),
	       1000 * percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM l.finished_at - o.created_at))
	  FROM crm.email_outbox o JOIN crm.email_delivery_log l ON l.outbox_id = o.id AND l.outcome = 'sent'
	 WHERE o.to_address LIKE '$1%'"
}
read -r bn _ bp50 bp99 <<<"$(stats burst)"
read -r sn sspan sp50 sp99 <<<"$(stats steady)"
enqueue_tps=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$dir/pgbench.out" | head -1)
not_sent=$(q -c "SELECT count(*) FROM crm.email_outbox WHERE status <> 'sent'")
attempts=$(q -c "SELECT sum(attempts) FROM crm.email_outbox")
total=$(q -c "SELECT count(*) FROM crm.email_outbox")
sink_mesg=$(grep -o 'mesg=[0-9]*' "$dir/sink.out" | tail -1 | cut -d= -f2)

echo
echo "mail delivery to smtp-sink on loopback (crm.max_in_flight = $IN_FLIGHT, no TLS, synchronous_commit on)"
printf '%-44s %9s %10s %10s %12s %12s\n' scenario messages seconds "msg/s" "p50 ms" "p99 ms"
awk -v n="$bn" -v t0="$t0" -v t1="$t1" -v t2="$t2" -v p50="$bp50" -v p99="$bp99" 'BEGIN {
	t = t2 - t0; d = t2 - t1
	printf "%-44s %9d %10.2f %10.0f %12.1f %12.1f\n", "burst: queued in 1 transaction, then drained", n, t, n / t, p50, p99
	printf "%-44s %9d %10.2f %10.0f\n", "  of which after the commit", n, d, n / d }'
awk -v n="$sn" -v t="$sspan" -v p50="$sp50" -v p99="$sp99" -v e="$enqueue_tps" 'BEGIN {
	printf "%-44s %9d %10.2f %10.0f %12.1f %12.1f\n", "steady: pgbench -c 2 enqueues, worker sends", n, t, n / t, p50, p99
	printf "%-44s %9s %10s %10.0f\n", "  (enqueue rate pgbench reached)", "", "", e }'
awk -v b="$((c1 - c0))" -v s="$((c2 - c1))" -v n="$MESSAGES" -v hz="$ticks_per_s" 'BEGIN {
	printf "%-44s %9s %10s\n", "worker CPU (user + system)", "", "us/msg"
	printf "%-44s %9d %10.0f\n", "  burst", n, b / hz / n * 1e6
	printf "%-44s %9d %10.0f\n", "  steady", n, s / hz / n * 1e6 }'
echo
printf '%-44s %12s %12s\n' "worker memory" "VmRSS kB" "RssAnon kB"
printf '%-44s %12d %12d\n' "after 1,000 messages" "$rss_1k" "$anon_1k"
printf '%-44s %12d %12d\n' "after $((MESSAGES * 2 + 1000)) messages" "$rss_21k" "$anon_21k"
awk -v a="$rss_1k" -v b="$rss_21k" -v c="$anon_1k" -v d="$anon_21k" 'BEGIN {
	printf "%-44s %12.3f %12.3f\n", "ratio (target <= 1.10)", b / a, d / c }'
echo
echo "checks: $total messages, $not_sent not sent, $attempts attempts in all; smtp-sink counted ${sink_mesg:-?} messages"
