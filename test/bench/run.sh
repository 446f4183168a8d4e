#!/bin/bash
# test/bench/run.sh: what `make bench` runs.
#
# Benchmarks are not tests: they measure, side by side in one run, and print
# ratio tables.  As root this installs missing packages (the benchmarks also
# need postfix's smtp-sink and valgrind), then re-runs itself as $CRM_USER in a private
# copy of the tree with crm in ./tmp_install, and runs every
# test/bench/*.bench.sh in name order (BENCH="pipeline mail" picks some by
# the part of the name before ".bench.sh").  Each script starts and stops its
# own cluster.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib.sh"

if [ "${1:-}" != --inner ]; then
	if [ "$(id -u)" -eq 0 ] && ! dpkg-query -W -f='${Status}' postfix 2>/dev/null | grep -q 'install ok installed'; then
		# smtp-sink ships with postfix; install it unconfigured so no MTA starts.
		echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
	fi
	ensure_packages $CRM_PACKAGES postfix valgrind || exit 1
	if [ "$(id -u)" -eq 0 ]; then
		ensure_user
		work=$(private_copy "$top")
		runuser -u "$CRM_USER" -- env BENCH="${BENCH:-}" bash "$work/test/bench/run.sh" --inner
		rc=$?
		rm -rf "$work"
		exit $rc
	fi
	exec bash "$top/test/bench/run.sh" --inner
fi

cd "$top" || exit 1
rm -rf tmp_install
say "building and installing into $top/tmp_install"
temp_install "$top/tmp_install" || exit 1
export CRM_SRC="$top"
rc=0
for script in test/bench/*.bench.sh; do
	[ -e "$script" ] || continue
	name=$(basename "$script" .bench.sh)
	if [ -n "${BENCH:-}" ]; then
		case " $BENCH " in *" $name "*) ;; *) continue ;; esac
	fi
	say "bench: $name"
	bash "$script" || { echo "bench $name failed"; rc=1; }
done
exit $rc
