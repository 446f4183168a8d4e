#!/bin/bash
# test/bench/quality.bench.sh: duplicate search, blocked against naive.
#
# crm.duplicate_contacts on CONTACTS (100,000) contacts of which 2% are
# planted duplicates of another contact (test/bench/quality_contacts.sql:
# the same mobile written another way, the same address in capitals with a
# +tag, or the same name at a second spelling of the company), timed RUNS
# times (median), with the recall of the planted pairs and the pairs listed
# that were not planted.  Then the same scoring without blocking -- every
# pair compared with crm.name_similarity and the same evidence -- on
# NAIVE_CONTACTS (10,000) contacts, next to the view on those contacts, and
# the ratio of the cost per pair of all n(n-1)/2 pairs.
set -euo pipefail
CONTACTS=${CONTACTS:-100000}
NAIVE_CONTACTS=${NAIVE_CONTACTS:-10000}
RUNS=${RUNS:-3}

. "$(dirname "$0")/lib.sh"
bench_cluster quality 55436 \
	"shared_buffers = '256MB'" \
	"work_mem = '64MB'" \
	"max_wal_size = '4GB'"

load() {	# load DB CONTACTS
	q -c "CREATE DATABASE $1"
	q -d "$1" -c "CREATE EXTENSION crm"
	q -d "$1" -v contacts="$2" -v dup_share=0.02 -v seed=0.42 -f "$CRM_SRC/test/bench/quality_contacts.sql" >/dev/null
}

# seconds of one run of the view, and its recall, in database $1
blocked() {
	q -d "$1" <<'SQL'
SET client_min_messages = warning;
DROP TABLE IF EXISTS found;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
CREATE TABLE found AS SELECT contact_id_a, contact_id_b FROM crm.duplicate_contacts;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3)
       || ' ' || (SELECT count(*) FROM bench.planted p JOIN found f
                   ON f.contact_id_a = least(p.original, p.duplicate) AND f.contact_id_b = greatest(p.original, p.duplicate))
       || ' ' || (SELECT count(*) FROM bench.planted)
       || ' ' || (SELECT count(*) FROM found);
SQL
}

echo "loading $CONTACTS contacts (2% planted duplicates)..."
load big "$CONTACTS"
times=()
for _ in $(seq "$RUNS"); do
	read -r seconds found planted listed < <(blocked big)
	times+=("$seconds")
done
big_time=$(printf '%s\n' "${times[@]}" | median)
big_found=$found big_planted=$planted big_listed=$listed

echo "loading $NAIVE_CONTACTS contacts for the naive comparison..."
load small "$NAIVE_CONTACTS"
read -r small_time small_found small_planted small_listed < <(blocked small)
read -r naive_time naive_found naive_listed < <(q -d small <<'SQL'
SET client_min_messages = warning;
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
CREATE TABLE naive AS
WITH keyed AS MATERIALIZED (
    SELECT c.id, c.name, c.account_id, crm.normalize_phone(c.phone) AS phone_key, crm.email_key(c.email) AS email_key,
           coalesce(crm.company_key(a.name), 'account ' || c.account_id) AS company_key
      FROM crm.contact c LEFT JOIN crm.account a ON a.id = c.account_id
)
SELECT a.id AS contact_id_a, b.id AS contact_id_b
  FROM keyed a JOIN keyed b ON b.id > a.id
 WHERE least(1.0, 0.9 * coalesce(a.email_key = b.email_key, false)::int + 0.5 * coalesce(a.phone_key = b.phone_key, false)::int
                  + 0.5 * crm.name_similarity(a.name, b.name) + 0.2 * coalesce(a.company_key = b.company_key, false)::int) >= 0.6;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 3)
       || ' ' || (SELECT count(*) FROM bench.planted p JOIN naive f
                   ON f.contact_id_a = least(p.original, p.duplicate) AND f.contact_id_b = greatest(p.original, p.duplicate))
       || ' ' || (SELECT count(*) FROM naive);
SQL
)

awk -v n1="$CONTACTS" -v t1="$big_time" -v f1="$big_found" -v p1="$big_planted" -v l1="$big_listed" \
    -v n2="$NAIVE_CONTACTS" -v t2="$small_time" -v f2="$small_found" -v p2="$small_planted" -v l2="$small_listed" \
    -v tn="$naive_time" -v fn="$naive_found" -v ln="$naive_listed" 'BEGIN {
	pairs1 = n1 * (n1 - 1) / 2; pairs2 = n2 * (n2 - 1) / 2
	printf "\n%-34s %9s %9s %12s %10s %14s %16s\n", "duplicate search", "contacts", "seconds", "recall", "listed", "not planted", "ns per pair"
	printf "%-34s %9d %9.2f %5d/%-6d %10d %14d %16.3f\n", "crm.duplicate_contacts (blocked)", n1, t1, f1, p1, l1, l1 - f1, t1 * 1e9 / pairs1
	printf "%-34s %9d %9.2f %5d/%-6d %10d %14d %16.3f\n", "crm.duplicate_contacts (blocked)", n2, t2, f2, p2, l2, l2 - f2, t2 * 1e9 / pairs2
	printf "%-34s %9d %9.2f %5d/%-6d %10d %14d %16.3f\n", "every pair compared (naive)", n2, tn, fn, p2, ln, ln - fn, tn * 1e9 / pairs2
	printf "\ncost per pair, naive %d / blocked %d: %.0f x; naive %d / blocked %d: %.0f x\n", n2, n1, (tn / pairs2) / (t1 / pairs1), n2, n2, tn / t2
}'
