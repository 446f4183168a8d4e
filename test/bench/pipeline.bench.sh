#!/bin/bash
# test/bench/pipeline.bench.sh: cost of the transition engine.
#
# Four tables with the same 1,000,000 deals, measured side by side in one
# cluster and one run:
#   crm       crm.deal with crm's C triggers (updated_at, enforce, history)
#   none      the same columns and indexes, no trigger
#   history   the same, with only the history trigger (crm.record_transition
#             into a copy of crm.deal_stage_history): the cost of writing the
#             history rows alone, which crm's engine cannot avoid
#   plpgsql   the same check, stamps and history insert written in PL/pgSQL
# (a) single-row stage UPDATEs with pgbench (each one a real move, so every
#     update checks a rule and writes a history row): TPS and ratios to none;
# (b) one bulk UPDATE of 200,000 deals: trigger cost per row over none, and
#     crm's over history's (what the checks and stamps add to the history).
# Rounds alternate between the tables; medians are reported.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-20}
DEALS=${DEALS:-1000000}
BULK=${BULK:-200000}

. "$(dirname "$0")/lib.sh"
bench_cluster pipeline 55433 \
	"shared_buffers = '1GB'" \
	"max_wal_size = '4GB'" \
	"checkpoint_timeout = '30min'" \
	"synchronous_commit = off"

echo "loading $DEALS deals into three tables..."
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm;
-- a cyclic pipeline, so every benchmark update is an allowed, real move
SELECT crm.create_pipeline('bench', ARRAY['a', 'b', 'c']) AS id \gset
INSERT INTO crm.stage_transition (pipeline_id, from_stage, to_stage) VALUES (:id, 'c', 'a');
INSERT INTO crm.deal (name, amount, currency, pipeline_id)
SELECT 'deal ' || g, g % 10000, 'USD', :id FROM generate_series(1, $DEALS) g;

CREATE SCHEMA bench;
CREATE TABLE bench.deal_none (LIKE crm.deal INCLUDING ALL);
CREATE TABLE bench.deal_plpgsql (LIKE crm.deal INCLUDING ALL);
CREATE TABLE bench.deal_history (LIKE crm.deal INCLUDING ALL);
INSERT INTO bench.deal_none OVERRIDING SYSTEM VALUE SELECT * FROM crm.deal;
INSERT INTO bench.deal_plpgsql OVERRIDING SYSTEM VALUE SELECT * FROM crm.deal;
INSERT INTO bench.deal_history OVERRIDING SYSTEM VALUE SELECT * FROM crm.deal;
-- the same foreign keys as crm.deal (LIKE does not copy them): only triggers differ
ALTER TABLE bench.deal_none
    ADD FOREIGN KEY (account_id) REFERENCES crm.account, ADD FOREIGN KEY (contact_id) REFERENCES crm.contact,
    ADD FOREIGN KEY (pipeline_id) REFERENCES crm.pipeline,
    ADD FOREIGN KEY (pipeline_id, stage) REFERENCES crm.stage (pipeline_id, key);
ALTER TABLE bench.deal_plpgsql
    ADD FOREIGN KEY (account_id) REFERENCES crm.account, ADD FOREIGN KEY (contact_id) REFERENCES crm.contact,
    ADD FOREIGN KEY (pipeline_id) REFERENCES crm.pipeline,
    ADD FOREIGN KEY (pipeline_id, stage) REFERENCES crm.stage (pipeline_id, key);
ALTER TABLE bench.deal_history
    ADD FOREIGN KEY (account_id) REFERENCES crm.account, ADD FOREIGN KEY (contact_id) REFERENCES crm.contact,
    ADD FOREIGN KEY (pipeline_id) REFERENCES crm.pipeline,
    ADD FOREIGN KEY (pipeline_id, stage) REFERENCES crm.stage (pipeline_id, key);
CREATE TABLE bench.history_plpgsql (LIKE crm.deal_stage_history INCLUDING ALL);
ALTER TABLE bench.history_plpgsql ADD FOREIGN KEY (deal_id) REFERENCES bench.deal_plpgsql (id);
CREATE TABLE bench.history_history (LIKE crm.deal_stage_history INCLUDING ALL);
-- the histories start with the rows written while loading, so their indexes are the same size
INSERT INTO bench.history_plpgsql (deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by,
                                   time_in_from_stage)
SELECT deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by, time_in_from_stage
  FROM crm.deal_stage_history;
INSERT INTO bench.history_history (deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by,
                                   time_in_from_stage)
SELECT deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by, time_in_from_stage
  FROM crm.deal_stage_history;
-- the history alone: crm's own history trigger, nothing else
CREATE TRIGGER record_move AFTER INSERT OR UPDATE ON bench.deal_history FOR EACH ROW EXECUTE FUNCTION
    crm.record_transition('bench.history_history', 'deal_id', 'stage', 'pipeline_id');

-- What a careful PL/pgSQL author writes for the same rules.
CREATE FUNCTION bench.check_move() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
    to_kind text;
BEGIN
    NEW.updated_at := now();
    IF NEW.stage IS NOT DISTINCT FROM OLD.stage THEN
        RETURN NEW;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM crm.stage_transition t
                    WHERE t.pipeline_id = NEW.pipeline_id AND t.from_stage = OLD.stage AND t.to_stage = NEW.stage) THEN
        RAISE EXCEPTION 'cannot move deal % from stage "%" to "%"', NEW.id, OLD.stage, NEW.stage
            USING ERRCODE = 'check_violation';
    END IF;
    SELECT s.kind, s.probability INTO to_kind, NEW.probability
      FROM crm.stage s WHERE s.pipeline_id = NEW.pipeline_id AND s.key = NEW.stage;
    NEW.stage_entered_at := now();
    NEW.closed_at := CASE WHEN to_kind = 'open' THEN NULL ELSE now() END;
    RETURN NEW;
END \$\$;
CREATE FUNCTION bench.record_move() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN
    INSERT INTO bench.history_plpgsql (deal_id, pipeline_id, from_stage, to_stage, changed_at, changed_by,
                                       time_in_from_stage)
    VALUES (NEW.id, NEW.pipeline_id, OLD.stage, NEW.stage, NEW.stage_entered_at, current_user,
            NEW.stage_entered_at - OLD.stage_entered_at);
    RETURN NULL;
END \$\$;
CREATE TRIGGER check_move BEFORE UPDATE ON bench.deal_plpgsql FOR EACH ROW EXECUTE FUNCTION bench.check_move();
CREATE TRIGGER record_move AFTER UPDATE ON bench.deal_plpgsql FOR EACH ROW
    WHEN (OLD.stage IS DISTINCT FROM NEW.stage) EXECUTE FUNCTION bench.record_move();
VACUUM ANALYZE;
CHECKPOINT;
SQL

table_for() {
	case $1 in
	crm) echo crm.deal ;; none) echo bench.deal_none ;; history) echo bench.deal_history ;;
	plpgsql) echo bench.deal_plpgsql ;;
	esac
}
next_stage="CASE stage WHEN 'a' THEN 'b' WHEN 'b' THEN 'c' ELSE 'a' END"


declare -A tps bulk
for round in $(seq "$ROUNDS"); do
	for variant in none crm history plpgsql; do
		table=$(table_for $variant)
		cat >"$dir/update.sql" <<EOF
\set id random(1, $DEALS)
UPDATE $table SET stage = $next_stage WHERE id = :id;
EOF
		t=$(pgbench -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$dir/update.sql" 2>"$dir/pgbench.err" |
			sed -nE 's/^tps = ([0-9.]+).*/\1/p')
		if [ -z "$t" ]; then
			echo "pgbench failed on $table:" >&2
			tail -n 5 "$dir/pgbench.err" >&2
			exit 1
		fi
		tps[$variant]+="$t "
		q -c "VACUUM $table" >/dev/null
		ms=$(q -c '\timing on' -c "UPDATE $table SET stage = $next_stage WHERE id <= $BULK" |
			sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p')
		bulk[$variant]+="$ms "
		q -c "VACUUM $table" >/dev/null
		printf '  round %d %-8s %8.0f tps   bulk %8.1f ms\n' "$round" "$variant" "$t" "$ms"
	done
done

declare -A tm bm
for v in none crm history plpgsql; do
	tm[$v]=$(echo "${tps[$v]}" | tr ' ' '\n' | grep . | median)
	bm[$v]=$(echo "${bulk[$v]}" | tr ' ' '\n' | grep . | median)
done
history_rows=$(q -c "SELECT count(*) FROM crm.deal_stage_history")

echo
echo "pipeline engine, $DEALS deals, medians of $ROUNDS rounds (pgbench -c 2 -j 2 -T $SECONDS_PER_RUN, synchronous_commit off)"
printf '%-10s %12s %14s %16s %18s\n' variant "single tps" "tps / none" "bulk ${BULK} ms" "trigger µs/row"
for v in none crm history plpgsql; do
	awk -v v="$v" -v t="${tm[$v]}" -v t0="${tm[none]}" -v b="${bm[$v]}" -v b0="${bm[none]}" -v n="$BULK" \
		'BEGIN { printf "%-10s %12.0f %14.3f %16.1f %18.2f\n", v, t, t / t0, b, (b - b0) * 1000 / n }'
done
awk -v c="${bm[crm]}" -v h="${bm[history]}" -v b0="${bm[none]}" 'BEGIN {
	printf "bulk trigger cost, crm / history alone: %.2f\n", (c - b0) / (h - b0) }'
echo "(history rows written by crm's engine during the run: $history_rows)"
