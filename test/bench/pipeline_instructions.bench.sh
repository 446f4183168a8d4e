#!/bin/bash
# test/bench/pipeline_instructions.bench.sh: the transition engine's cost in
# CPU instructions (valgrind's callgrind), which other jobs on a shared
# machine cannot disturb the way they disturb timings.
#
# The tables of pipeline.bench.sh, smaller: 100,000 deals each in
#   none      crm.deal's columns and indexes, no trigger
#   history   the same with only the history trigger (crm.record_transition):
#             writing the history rows alone
#   crm       crm.deal with crm's triggers (enforce_transition, history)
# For each, a single-user backend runs one bulk UPDATE of $ROWS deals under
# callgrind, counting ExecutorRun and ExecutorFinish (where AFTER triggers
# fire), after a warm-up statement has loaded the rules.  Two statements:
#   move      every row moves to the next stage (a rule check and a history row)
#   no move   amount = amount + 1 (the engine's columns are guarded, nothing moves)
# Printed: instructions per row, the triggers' cost over none, and crm's
# cost over writing the history alone.
set -euo pipefail
ROWS=${ROWS:-20000}

. "$(dirname "$0")/lib.sh"
bench_cluster instructions 55434 \
	"shared_buffers = '256MB'" \
	"synchronous_commit = off"
psql -X -q -v ON_ERROR_STOP=1 <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION crm;
SELECT crm.create_pipeline('bench', ARRAY['a', 'b', 'c']) AS id \gset
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage) VALUES (:id, 'c', 'a');
INSERT INTO crm.deal (name, amount, currency, pipeline_id)
SELECT 'deal ' || g, g % 10000, 'USD', :id FROM generate_series(1, 100000) g;
CREATE SCHEMA bench;
CREATE TABLE bench.deal_none (LIKE crm.deal INCLUDING ALL);
CREATE TABLE bench.deal_history (LIKE crm.deal INCLUDING ALL);
INSERT INTO bench.deal_none OVERRIDING SYSTEM VALUE SELECT * FROM crm.deal;
INSERT INTO bench.deal_history OVERRIDING SYSTEM VALUE SELECT * FROM crm.deal;
ALTER TABLE bench.deal_none ADD FOREIGN KEY (pipeline_id, stage) REFERENCES crm.stage (pipeline_id, key);
ALTER TABLE bench.deal_history ADD FOREIGN KEY (pipeline_id, stage) REFERENCES crm.stage (pipeline_id, key);
CREATE TABLE bench.history_history (LIKE crm.deal_stage_history INCLUDING ALL);
INSERT INTO bench.history_history (deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by)
SELECT deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by FROM crm.deal_stage_history;
CREATE TRIGGER record_move AFTER INSERT OR UPDATE ON bench.deal_history FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('bench.history_history', 'deal_id', 'stage', 'pipeline_id');
VACUUM ANALYZE;
CHECKPOINT;
SQL
pg_ctl -w stop >/dev/null

# instructions TABLE SET: per row of one bulk UPDATE of TABLE (each run leaves
# the stages moved, which the cyclic pipeline allows again next time)
instructions() {
	local out=$dir/callgrind.out
	printf 'UPDATE %s SET stage = stage WHERE id = 1;\nUPDATE %s SET %s WHERE id <= %d;\n' "$1" "$1" "$2" "$ROWS" |
		valgrind --tool=callgrind --callgrind-out-file="$out" \
			--toggle-collect=ExecutorRun --toggle-collect=ExecutorFinish \
			postgres --single -D "$PGDATA" postgres >/dev/null 2>"$dir/valgrind.log"
	awk -v n="$ROWS" '/^(summary|totals):/ { print $2 / n; exit }' "$out"
}

move="stage = CASE stage WHEN 'a' THEN 'b' WHEN 'b' THEN 'c' ELSE 'a' END"
echo
echo "transition engine in instructions per row (callgrind, bulk UPDATE of $ROWS of 100,000 deals)"
printf '%-9s %10s %10s %10s %16s %22s\n' statement none history crm "crm over none" "crm / history (over none)"
for statement in move "no move"; do
	set_clause=$move
	[ "$statement" = "no move" ] && set_clause="amount = amount + 1"
	none=$(instructions bench.deal_none "$set_clause")
	history=$(instructions bench.deal_history "$set_clause")
	crm=$(instructions crm.deal "$set_clause")
	awk -v s="$statement" -v a="$none" -v h="$history" -v c="$crm" 'BEGIN {
		printf "%-9s %10.0f %10.0f %10.0f %+16.0f %22.2f\n", s, a, h, c, c - a, (c - a) / (h - a) }'
done
