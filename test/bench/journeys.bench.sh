#!/bin/bash
# test/bench/journeys.bench.sh: the journeys' two costs (issue 11), measured
# side by side in one cluster with crm preloaded, its worker running and
# delivering with the file transport:
#
#   (a) Runner throughput: $STEPS enrollments whose first step (a send of a
#       marketing template) is due at once, run by the worker's journeys
#       duty -- claim, checks, render, queue, log, advance, 500 per
#       transaction -- while the same worker delivers the mail, timed from
#       the commit that makes them due until none is left; vs the floor:
#       crm.send_template called $STEPS times in one transaction with the
#       same template and variables.  Targets: >= 0.5x the floor and >= 1,000
#       steps/s.
#   (b) Exit cost: the INSERT of an event that ends 1,000 enrollments (one
#       person in 1,000 journeys whose exit event it is: the enrollments end,
#       logged, their mail looked for) vs one of the same kind that ends none
#       (a person in no journey), vs one of a kind no journey listens to, vs
#       that last with the journeys trigger disabled.
#
# Times are medians of ROUNDS alternating runs (the order flips every round,
# so slow drifts in background load cancel).
set -euo pipefail
ROUNDS=${ROUNDS:-3}
STEPS=${STEPS:-100000}
EXIT_REPEATS=${EXIT_REPEATS:-15}

. "$(dirname "$0")/lib.sh"
bench_cluster journeys 55441 "shared_buffers = '512MB'" "max_wal_size = '8GB'" "checkpoint_timeout = '30min'" \
	"synchronous_commit = off" "shared_preload_libraries = 'crm'" "crm.poll_interval = '1s'" "crm.mail_transport = 'file'"
now_ms() { date +%s%3N; }
# ms SQL...: run the statements in one session, each as its own command,
# and print the last one's milliseconds (the others warm the session up)
ms() {
	local args=() sql
	for sql in "$@"; do args+=(-c "$sql"); done
	q -c "SET client_min_messages = warning" -c '\timing on' "${args[@]}" 2>&1 |
		sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p' | tail -n 1
}
q -c "SET client_min_messages = warning" -c "CREATE EXTENSION crm"

q <<EOF
INSERT INTO crm.email_template (key, subject, body_text, body_html, category) VALUES
    ('bench', '{{name}}，本周课程', E'{{name}} 您好：\n\n本周新课已上线。', '<p>{{name}} 您好：</p><p>本周新课已上线。</p>', 'marketing');
INSERT INTO crm.contact (name, email) SELECT '学员' || g, 'learner' || g || '@bench.example.cn' FROM generate_series(1, $STEPS) g;
INSERT INTO crm.consent (contact_id, status, source) SELECT id, 'granted', 'bench' FROM crm.contact;
SELECT crm.create_journey('bench', 'Bench', NULL, '[{"kind": "send", "template_key": "bench"}, {"kind": "wait", "delay": "30 days"}]');
SELECT crm.activate_journey('bench');
-- an outbox with a history, as in production: the enqueue's plans are made for a table of this size
INSERT INTO crm.email_outbox (to_address, subject, body_text, status, message_id, idempotency_key, category,
                              contact_id, sent_at)
SELECT c.email, 'earlier', 'earlier', 'sent', '<history.' || c.id || '@bench.example.cn>', 'history:' || c.id,
       'marketing', c.id, now() - interval '30 days'
  FROM crm.contact c;
VACUUM ANALYZE;
EOF

# wait_delivered: until the outbox has nothing left to deliver
wait_delivered() {
	while [ "$(q -c "SELECT count(*) FROM crm.email_outbox WHERE status IN ('queued', 'sending')")" != 0 ]; do
		sleep 1
	done
}

echo "== (a) runner throughput: $STEPS due send steps, vs crm.send_template x $STEPS in one transaction"
t_runner=() t_floor=()
for round in $(seq 1 "$ROUNDS"); do
	order="runner floor"
	[ $((round % 2)) -eq 0 ] && order="floor runner"
	for method in $order; do
		case $method in
		runner)
			# enrollments parked in the future, then all made due by one commit
			q -c "DELETE FROM crm.journey_enrollment" -c "
				INSERT INTO crm.journey_enrollment (journey_id, version, contact_id, position, next_run_at)
				SELECT j.id, j.version, c.id, 1, now() + interval '1 day' FROM crm.journey j, crm.contact c WHERE j.key = 'bench'" \
				-c "VACUUM ANALYZE crm.journey_enrollment"
			start=$(now_ms)
			q -c "UPDATE crm.journey_enrollment SET next_run_at = now()"
			while [ "$(q -c "SELECT count(*) FROM crm.journey_enrollment WHERE position = 1")" != 0 ]; do
				sleep 0.2
			done
			t=$(($(now_ms) - start))
			t_runner+=("$t")
			;;
		floor)
			t=$(ms "SELECT count(crm.send_template('bench', c.email, jsonb_build_object('name', c.name, 'email', c.email,
			                                         'contact_id', c.id), 'floor:$round:' || c.id))
			          FROM crm.contact c")
			t_floor+=("$t")
			;;
		esac
		printf '  round %d  %-6s %8.0f ms\n' "$round" "$method" "$t"
		wait_delivered
		q -c "VACUUM ANALYZE crm.email_outbox"
		rm -rf "$PGDATA/crm_mail"
	done
done
runner=$(printf '%s\n' "${t_runner[@]}" | median)
floor=$(printf '%s\n' "${t_floor[@]}" | median)
echo "  the worker delivered all $(q -c "SELECT count(*) FROM crm.email_outbox WHERE status = 'sent' AND sent_at > now() - interval '1 day'") messages meanwhile"

echo "== (b) exit cost: an event ending 1,000 enrollments vs one ending none"
q <<'EOF'
SET client_min_messages = warning;
INSERT INTO crm.contact (name, email) VALUES ('多旅程', 'many@bench.example.cn'), ('无旅程', 'none@bench.example.cn');
DO $$
BEGIN
    FOR i IN 1..1000 LOOP
        PERFORM crm.create_journey('exit' || i, 'Exit ' || i, NULL,
                                   '[{"kind": "wait", "delay": "30 days"}]', '{"exit_events": ["bought"], "reentry_after": "1 second"}');
        PERFORM crm.activate_journey('exit' || i);
    END LOOP;
END $$;
INSERT INTO crm.journey_enrollment (journey_id, version, contact_id, position, next_run_at)
SELECT j.id, 1, c.id, 1, now() + interval '30 days' FROM crm.journey j, crm.contact c
 WHERE j.key LIKE 'exit%' AND c.email = 'many@bench.example.cn';
VACUUM ANALYZE;
EOF
many=$(q -c "SELECT id FROM crm.contact WHERE email = 'many@bench.example.cn'")
none=$(q -c "SELECT id FROM crm.contact WHERE email = 'none@bench.example.cn'")
reset="UPDATE crm.journey_enrollment SET state = 'active', ended_at = NULL, end_reason = NULL,
       next_run_at = now() + interval '30 days' WHERE contact_id = $many AND state <> 'active'"
# each INSERT is timed in a session that has already written an event (its
# caches of journey definitions and plans are warm)
warm="INSERT INTO crm.event (contact_id, kind) VALUES ($none, 'warm_up')"
t_many=() t_none=() t_other=() t_off=()
for round in $(seq 1 "$EXIT_REPEATS"); do
	q -c "$reset" >/dev/null
	t_many+=("$(ms "$warm" "INSERT INTO crm.event (contact_id, kind) VALUES ($many, 'bought')")")
	t_none+=("$(ms "$warm" "INSERT INTO crm.event (contact_id, kind) VALUES ($none, 'bought')")")
	t_other+=("$(ms "$warm" "INSERT INTO crm.event (contact_id, kind) VALUES ($none, 'page_view')")")
	t_off+=("$(ms "ALTER TABLE crm.event DISABLE TRIGGER event_journeys" "$warm" \
	           "INSERT INTO crm.event (contact_id, kind) VALUES ($none, 'page_view')")")
	q -c "ALTER TABLE crm.event ENABLE TRIGGER event_journeys"
done
ended=$(q -c "SELECT count(*) FROM crm.journey_enrollment WHERE contact_id = $many AND state = 'exited'")
m_many=$(printf '%s\n' "${t_many[@]}" | median)
m_none=$(printf '%s\n' "${t_none[@]}" | median)
m_other=$(printf '%s\n' "${t_other[@]}" | median)
m_off=$(printf '%s\n' "${t_off[@]}" | median)

echo
printf '%-66s %12s %12s %8s %8s\n' measurement crm baseline ratio target
awk -v r="$runner" -v f="$floor" -v n="$STEPS" 'BEGIN {
	printf "%-66s %9.0f ms %9.0f ms %7.2fx %8s\n", "(a) runner, " n " due steps (floor: send_template x " n ")", r, f, f / r, ">=0.5x"
	printf "%-66s %9.0f /s %12s %8s %8s\n", "(a) runner throughput, steps per second", n * 1000 / r, "", "", ">=1000"
}'
awk -v m="$m_many" -v z="$m_none" -v o="$m_other" -v off="$m_off" -v e="$ended" 'BEGIN {
	printf "%-66s %9.2f ms %9.2f ms %7.1fx %8s\n", "(b) event ending " e " enrollments vs one ending none", m, z, m / z, ""
	printf "%-66s %9.2f ms %9.2f ms %7.2fx %8s\n", "(b) event ending none vs a kind no journey listens to", z, o, z / o, ""
	printf "%-66s %9.2f ms %9.2f ms %7.2fx %8s\n", "(b) a kind no journey listens to vs the trigger disabled", o, off, o / off, ""
}'
