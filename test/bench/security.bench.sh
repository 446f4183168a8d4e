#!/bin/bash
# test/bench/security.bench.sh: cost of the audit trigger and of row-level
# security.
#
# One cluster, 1,000,000 deals owned by 8 sales reps, measured side by side:
# (a) audit trail, on crm.deal itself (its engine triggers always on), with
#     its audit trigger in one of three states:
#       none     the audit trigger disabled
#       crm      crm.record_audit (C, heap insert, no SPI)
#       plpgsql  the common open-source pattern instead: a PL/pgSQL trigger
#                writing the same jsonb diff (to_jsonb(NEW) against
#                to_jsonb(OLD), jsonb_each) into a copy of crm.audit_log
#     - one bulk UPDATE of 200,000 deals (each changing amount): trigger cost
#       per row over none, and crm's cost as a share of plpgsql's (target
#       at most 1/3);
#     - single-row UPDATEs with pgbench -c 2: short runs in pairs (none and
#       crm, the order alternating), the ratio crm / none as the median of
#       the pairs' ratios (target at least 0.85): on a shared machine the
#       load drifts, and a pair sees about the same load for both runs;
#     - then crm.seal_audit and crm.verify_audit over the rows written;
#     - and, when valgrind is installed, the same single-row UPDATE counted
#       in instructions (callgrind, a single-user backend, 2,000 updates per
#       variant): the deterministic figure when the machine is too loaded
#       for the TPS pairs to agree.
# (b) crm.pipeline_summary over the 1,000,000 deals as a crm_user, with
#     visibility all and team: once with a team owning every deal (the same
#     rows aggregated, so the difference is the policy alone; target at most
#     1.5x) and once with a team owning half of them; runs alternate,
#     medians reported.
set -euo pipefail
ROUNDS=${ROUNDS:-3}
PAIRS=${PAIRS:-9}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
DEALS=${DEALS:-1000000}
BULK=${BULK:-200000}
QUERIES=${QUERIES:-5}

dir=$(mktemp -d "${TMPDIR:-/tmp}/crm-bench-security.XXXXXX")
export PGDATA=$dir/data PGHOST=$dir PGPORT=${PGPORT:-55435} PGDATABASE=postgres PGUSER=postgres
initdb -A trust -E UTF8 --locale=C -U postgres >/dev/null
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$dir'
port = $PGPORT
shared_buffers = '1GB'
max_wal_size = '4GB'
checkpoint_timeout = '30min'
synchronous_commit = off
autovacuum = off
EOF
pg_ctl -w -l "$dir/log" start >/dev/null
trap 'pg_ctl -m fast stop >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "loading $DEALS deals..."
q <<SQL
SET client_min_messages = warning;
CREATE EXTENSION crm;
DO \$\$ BEGIN
    FOR i IN 1..8 LOOP
        EXECUTE format('CREATE ROLE rep%s IN ROLE crm_user', i);
    END LOOP;
END \$\$;
-- two viewers who own nothing: one in a team with every rep, one with half of them
CREATE ROLE viewer_all IN ROLE crm_user;
CREATE ROLE viewer_half IN ROLE crm_user;
INSERT INTO crm.team (name) VALUES ('everyone'), ('half');
INSERT INTO crm.team_member (team_id, member) SELECT 1, 'rep' || i FROM generate_series(1, 8) i;
INSERT INTO crm.team_member (team_id, member) VALUES (1, 'viewer_all'), (2, 'viewer_half');
INSERT INTO crm.team_member (team_id, member) SELECT 2, 'rep' || i FROM generate_series(5, 8) i;
-- loading is not what is measured: no audit rows for it
ALTER TABLE crm.deal DISABLE TRIGGER audit;
INSERT INTO crm.deal (name, amount, currency, owner)
SELECT 'deal ' || g, g % 10000, CASE WHEN g % 3 = 0 THEN 'CNY' ELSE 'USD' END, 'rep' || (1 + g % 8)
  FROM generate_series(1, $DEALS) g;

CREATE SCHEMA bench;
CREATE TABLE bench.audit_log (LIKE crm.audit_log INCLUDING ALL);
-- The common pattern: both rows as jsonb, keep what differs.
CREATE FUNCTION bench.audit_plpgsql() RETURNS trigger LANGUAGE plpgsql AS \$\$
DECLARE
    diff jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        diff := to_jsonb(NEW);
    ELSIF TG_OP = 'DELETE' THEN
        diff := to_jsonb(OLD);
    ELSE
        SELECT jsonb_object_agg(n.key, jsonb_build_object('new', n.value, 'old', o.value)) INTO diff
          FROM jsonb_each(to_jsonb(NEW)) n JOIN jsonb_each(to_jsonb(OLD)) o ON o.key = n.key
         WHERE n.value IS DISTINCT FROM o.value AND n.key <> 'updated_at';
        IF diff IS NULL THEN
            RETURN NULL;
        END IF;
    END IF;
    INSERT INTO bench.audit_log (at, actor, table_name, row_id, action, changed, txid)
    VALUES (now(), session_user, TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME,
            CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END, lower(TG_OP), diff, pg_current_xact_id());
    RETURN NULL;
END \$\$;
CREATE TRIGGER audit_plpgsql AFTER INSERT OR UPDATE OR DELETE ON crm.deal
    FOR EACH ROW EXECUTE FUNCTION bench.audit_plpgsql();
ALTER TABLE crm.deal DISABLE TRIGGER audit_plpgsql;
VACUUM ANALYZE;
CHECKPOINT;
SQL

use_variant() {	# use_variant none|crm|plpgsql: which audit trigger crm.deal fires
	case $1 in
	none) q -c "ALTER TABLE crm.deal DISABLE TRIGGER audit, DISABLE TRIGGER audit_plpgsql" ;;
	crm) q -c "ALTER TABLE crm.deal ENABLE TRIGGER audit, DISABLE TRIGGER audit_plpgsql" ;;
	plpgsql) q -c "ALTER TABLE crm.deal DISABLE TRIGGER audit, ENABLE TRIGGER audit_plpgsql" ;;
	esac
}

# (a) bulk UPDATE
declare -A bulk
for round in $(seq "$ROUNDS"); do
	for variant in none crm plpgsql; do
		use_variant $variant
		ms=$(q -c '\timing on' -c "UPDATE crm.deal SET amount = amount + 1 WHERE id <= $BULK" |
			sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p')
		bulk[$variant]+="$ms "
		q -c "VACUUM crm.deal" >/dev/null
		printf '  bulk round %d %-8s %9.1f ms\n' "$round" "$variant" "$ms"
	done
done
declare -A bm
for v in none crm plpgsql; do
	bm[$v]=$(echo "${bulk[$v]}" | tr ' ' '\n' | grep . | median)
done

# (a) single-row UPDATEs, in pairs
cat >"$dir/update.sql" <<EOF
\set id random(1, $DEALS)
UPDATE crm.deal SET amount = amount + 1 WHERE id = :id;
EOF
tps_of() {
	use_variant "$1"
	pgbench -n -M prepared -c 2 -j 2 -T "$SECONDS_PER_RUN" -f "$dir/update.sql" 2>"$dir/pgbench.err" |
		sed -nE 's/^tps = ([0-9.]+).*/\1/p'
}
ratios=""
for pair in $(seq "$PAIRS"); do
	if [ $((pair % 2)) -eq 1 ]; then t0=$(tps_of none); t1=$(tps_of crm); else t1=$(tps_of crm); t0=$(tps_of none); fi
	if [ -z "$t0" ] || [ -z "$t1" ]; then
		echo "pgbench failed:" >&2
		tail -n 5 "$dir/pgbench.err" >&2
		exit 1
	fi
	r=$(awk -v a="$t1" -v b="$t0" 'BEGIN { printf "%.3f", a / b }')
	ratios+="$r "
	printf '  pair %d: none %8.0f tps, crm %8.0f tps, ratio %s\n' "$pair" "$t0" "$t1" "$r"
done
tps_ratio=$(echo "$ratios" | tr ' ' '\n' | grep . | median)

# (a) sealing and verifying what was written
logged=$(q -c "SELECT count(*) FROM crm.audit_log")
seal_ms=$(q -c '\timing on' -c "DO \$\$ BEGIN WHILE crm.seal_audit(100000) > 0 LOOP END LOOP; END \$\$" |
	sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p')
verify_ms=$(q -c '\timing on' -c "SELECT ok FROM crm.verify_audit()" | sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p')
verified=$(q -c "SELECT sealed || ' rows, ok ' || ok FROM crm.verify_audit()")

# (b) pipeline_summary under row-level security
q -c "ALTER TABLE crm.deal DISABLE TRIGGER audit, DISABLE TRIGGER audit_plpgsql" -c "VACUUM ANALYZE crm.deal"
summary_ms() {	# summary_ms VISIBILITY ROLE
	q -c "UPDATE crm.setting SET value = '$1' WHERE key = 'visibility'" >/dev/null
	q -c "SET ROLE $2" -c '\timing on' -c "SELECT sum(deals) FROM crm.pipeline_summary" |
		sed -nE 's/^Time: ([0-9.]+) ms.*/\1/p'
}
declare -A rls
for i in $(seq "$QUERIES"); do
	rls[all]+="$(summary_ms all viewer_all) "
	rls[team]+="$(summary_ms team viewer_all) "
	rls[team_half]+="$(summary_ms team viewer_half) "
done
declare -A rm
for v in all team team_half; do
	rm[$v]=$(echo "${rls[$v]}" | tr ' ' '\n' | grep . | median)
done
seen_team=$(q -c "SET ROLE viewer_all" -c "SELECT sum(deals) FROM crm.pipeline_summary")
seen_half=$(q -c "SET ROLE viewer_half" -c "SELECT sum(deals) FROM crm.pipeline_summary")

echo
echo "audit trail on crm.deal, $DEALS deals (medians of $ROUNDS bulk rounds; $PAIRS pairs of pgbench -c 2 -T $SECONDS_PER_RUN)"
printf '%-10s %16s %18s\n' variant "bulk ${BULK} ms" "trigger µs/row"
for v in none crm plpgsql; do
	awk -v v="$v" -v b="${bm[$v]}" -v b0="${bm[none]}" -v n="$BULK" \
		'BEGIN { printf "%-10s %16.1f %18.2f\n", v, b, (b - b0) * 1000 / n }'
done
awk -v c="${bm[crm]}" -v p="${bm[plpgsql]}" -v b0="${bm[none]}" \
	'BEGIN { printf "crm per-row cost / plpgsql per-row cost: %.3f (target <= 0.333)\n", (c - b0) / (p - b0) }'
echo "single-row UPDATE tps, crm audit / none: $tps_ratio (target >= 0.85; pair ratios: $ratios)"
awk -v n="$logged" -v s="$seal_ms" -v v="$verify_ms" \
	'BEGIN { printf "sealing %d log rows: %.0f ms (%.0f rows/s); verify_audit: %.0f ms (%.0f rows/s)\n", n, s, n * 1000 / s, v, n * 1000 / v }'
echo "verify_audit: $verified"
echo
echo "crm.pipeline_summary over $DEALS deals as a crm_user (medians of $QUERIES)"
printf '%-28s %10s %10s\n' visibility "ms" "x all"
for v in all team team_half; do
	label=$v
	[ "$v" = team ] && label="team (sees every deal)"
	[ "$v" = team_half ] && label="team (sees half)"
	awk -v l="$label" -v t="${rm[$v]}" -v t0="${rm[all]}" 'BEGIN { printf "%-28s %10.1f %10.3f\n", l, t, t / t0 }'
done
echo "(deals each viewer sees with visibility team: $seen_team and $seen_half)"

# (a) again, in instructions
command -v valgrind >/dev/null || { echo "(valgrind not installed: no instruction counts)"; exit 0; }
pg_ctl -w -m fast stop >/dev/null
awk -v n="$DEALS" 'BEGIN { srand(1); for (i = 0; i < 2000; i++) printf "UPDATE crm.deal SET amount = amount + 1 WHERE id = %d;\n", 1 + int(rand() * n) }' \
	>"$dir/updates.sql"
instructions() {	# instructions VARIANT: callgrind's count for the 2,000 updates
	case $1 in
	none) echo "ALTER TABLE crm.deal DISABLE TRIGGER audit, DISABLE TRIGGER audit_plpgsql;" ;;
	crm) echo "ALTER TABLE crm.deal ENABLE TRIGGER audit, DISABLE TRIGGER audit_plpgsql;" ;;
	plpgsql) echo "ALTER TABLE crm.deal DISABLE TRIGGER audit, ENABLE TRIGGER audit_plpgsql;" ;;
	esac | postgres --single -D "$PGDATA" postgres >/dev/null 2>&1
	valgrind --tool=callgrind --callgrind-out-file=/dev/null postgres --single -D "$PGDATA" postgres \
		<"$dir/updates.sql" 2>&1 >/dev/null | sed -nE 's/.*I +refs: +([0-9,]+).*/\1/p' | tr -d ,
}
declare -A ir
instructions none >/dev/null	# a first pass sets hint bits and prunes, so the three runs find the same pages
for v in none crm plpgsql; do
	ir[$v]=$(instructions $v)
done
echo
echo "single-row UPDATE of a deal in instructions (callgrind, single-user backend, 2,000 updates)"
printf '%-10s %16s %18s %14s\n' variant "per update" "audit per update" "none / variant"
for v in none crm plpgsql; do
	awk -v v="$v" -v i="${ir[$v]}" -v i0="${ir[none]}" \
		'BEGIN { printf "%-10s %16.0f %18.0f %14.3f\n", v, i / 2000, (i - i0) / 2000, i0 / i }'
done
