# test/bench/lib.sh: the start every benchmark shares, sourced (not run) by
# each test/bench/*.bench.sh after its `set -euo pipefail`.
#
#   bench_cluster NAME PORT [SETTING...]
#       initdb a fresh cluster in a new temporary directory $dir, reachable
#       only through a socket in $dir on $PGPORT (PORT unless PGPORT is set),
#       with autovacuum off and each SETTING as one more postgresql.conf
#       line; export PGDATA, PGHOST, PGPORT, PGDATABASE and PGUSER so psql,
#       pgbench and pg_ctl find it; start it.  At exit the cluster stops and
#       $dir is removed.
#   bench_at_exit COMMAND
#       also run COMMAND at exit, before the cluster stops (helpers a
#       benchmark started, e.g. an SMTP sink).
#   q ARG...        psql, quiet, stopping at the first error, tuples only
#   median          the median of the numbers on stdin, one a line

bench_exit_commands=()

bench_cluster() {
	local name=$1 port=$2 setting
	shift 2
	dir=$(mktemp -d "${TMPDIR:-/tmp}/crm-bench-$name.XXXXXX")
	export PGDATA=$dir/data PGHOST=$dir PGPORT=${PGPORT:-$port} PGDATABASE=postgres PGUSER=postgres
	trap bench_cleanup EXIT
	initdb -A trust -E UTF8 --locale=C -U postgres >/dev/null
	{
		printf '%s\n' "listen_addresses = ''" "unix_socket_directories = '$dir'" "port = $PGPORT" \
			"autovacuum = off"
		for setting in "$@"; do printf '%s\n' "$setting"; done
	} >>"$PGDATA/postgresql.conf"
	pg_ctl -w -l "$dir/log" start >/dev/null
}

bench_at_exit() {
	bench_exit_commands+=("$1")
}

bench_cleanup() {
	local command
	for command in "${bench_exit_commands[@]}"; do eval "$command" || true; done
	pg_ctl -m fast stop >/dev/null 2>&1 || true
	rm -rf "$dir"
}

q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }

median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
