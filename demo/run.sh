#!/bin/bash
# demo/run.sh: what `make demo` runs.
#
# As root: installs missing Debian packages, builds, installs crm into the
# system PostgreSQL 15, then starts a throwaway cluster as the unprivileged
# $CRM_USER with crm preloaded (so the crm worker runs), and plays the parts
# demo/NN_*.sql in order: the book's online-education startup, its pipeline,
# forecasts, email and sales process, and an HTML report of SVG charts
# written to demo/out/report.html.  A non-root developer gets the same in
# a ./tmp_install private installation.
#
# DEMO_KEEP=1 leaves the cluster running at the end and says how to connect.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/test/lib.sh"

if [ "${1:-}" != --inner ]; then
	ensure_packages $CRM_PACKAGES
	if [ "$(id -u)" -eq 0 ]; then
		ensure_user
		say "building and installing crm into the system PostgreSQL $PG_MAJOR"
		(cd "$top" && make -s -j"$(nproc)" WERROR=-Werror >/dev/null && make -s install WERROR=-Werror >/dev/null)
		work=$(private_copy "$top")
		rc=0
		runuser -u "$CRM_USER" -- env DEMO_KEEP="${DEMO_KEEP:-}" DEMO_OUT="$work/demo/out" \
			bash "$work/demo/run.sh" --inner --installed || rc=$?
		if [ -f "$work/demo/out/report.html" ]; then
			mkdir -p "$top/demo/out" && cp "$work/demo/out/report.html" "$top/demo/out/"
			say "report: $top/demo/out/report.html"
		fi
		[ -z "${DEMO_KEEP:-}" ] && [ $rc -eq 0 ] && rm -rf "$work"
		exit $rc
	fi
	exec bash "$top/demo/run.sh" --inner
fi

cd "$top"
if [ "${2:-}" = --installed ]; then
	export PATH="$(pg_config --bindir):$PATH"
else
	say "building and installing into $top/tmp_install"
	temp_install "$top/tmp_install"
fi

export PGDATA="$top/demo_cluster"
export PGHOST="$top/demo_socket"
export PGPORT=${DEMO_PORT:-54329}
export PGDATABASE=postgres
rm -rf "$PGDATA" "$PGHOST"
mkdir -p "$PGHOST"
initdb -A trust -E UTF8 --locale=C.UTF-8 -U postgres >/dev/null
export PGUSER=postgres
cat >>"$PGDATA/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PGHOST'
port = $PGPORT
shared_preload_libraries = 'crm'
crm.database = 'postgres'
timezone = 'Asia/Shanghai'
EOF
pg_ctl -w -l "$top/demo_cluster.log" start >/dev/null
stop_cluster() {
	if [ -z "${DEMO_KEEP:-}" ]; then
		pg_ctl -m fast stop >/dev/null 2>&1 || true
	fi
}
trap stop_cluster EXIT

demo_out=${DEMO_OUT:-$top/demo/out}	# the HTML report (demo/60_report.sql)
mkdir -p "$demo_out"
for part in demo/[0-9][0-9]_*.sql; do
	say "$part"
	psql -X -q -v ON_ERROR_STOP=1 -v demo_out="$demo_out" -P pager=off -f "$part"
done
[ -z "${DEMO_OUT:-}" ] && say "report: $demo_out/report.html"

if [ -n "${DEMO_KEEP:-}" ]; then
	say "cluster left running: psql -h $PGHOST -p $PGPORT -U postgres"
else
	say "done; the throwaway cluster is stopped and removed (DEMO_KEEP=1 keeps it running)"
fi
