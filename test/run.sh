#!/bin/bash
# test/run.sh: what `make test` runs.
#
# As root: installs missing Debian packages, then re-runs itself as the
# unprivileged $CRM_USER in a private copy of the tree.  As that user (or as
# any non-root developer, in place): builds, installs into ./tmp_install, and
# runs every suite against throwaway clusters:
#   pg_regress   sql/*.sql against expected/*.out
#   isolation    test/isolation/specs/*.spec against test/isolation/expected
#   TAP          test/t/*.pl (preload, restarts, crashes, worker, SMTP/HTTP)
#   deb/contents the Debian package built and checked (test/deb/deb_test.sh)
# and then, back as root, deb/install: the package installed with apt, the
# extension created from it, the system put back as it was.
# Each test counts once; the last line is "N passed, N failed" and the exit
# status is non-zero when anything failed.
#
# Set CRM_TESTS to a space-separated list of names (regress test, spec, or
# TAP file like t/001_preload.pl) to run only those.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
. "$top/test/lib.sh"

selected() {	# selected NAME: true when CRM_TESTS is empty or names it
	[ -z "${CRM_TESTS:-}" ] && return 0
	case " $CRM_TESTS " in *" $1 "*) return 0 ;; esac
	return 1
}

if [ "${1:-}" != --inner ]; then
	ensure_packages $CRM_PACKAGES || exit 1
	if [ "$(id -u)" -eq 0 ]; then
		ensure_user
		work=$(private_copy "$top")
		say "running as $CRM_USER in $work"
		runuser -u "$CRM_USER" -- env CRM_TESTS="${CRM_TESTS:-}" bash "$work/test/run.sh" --inner |
			tee "$work/inner.log"
		rc=${PIPESTATUS[0]}
		# The root-only test, added to the totals: the package the inner run built, installed.
		if selected deb/install; then
			read -r passed failed < <(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1 \2/p' "$work/inner.log" | tail -n 1)
			passed=${passed:-0} failed=${failed:-1}
			deb=$(ls "$work"/results/deb/postgresql-*-crm_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
			say "deb/install: ${deb:-no package was built}"
			if [ -n "$deb" ] && bash "$work/test/deb/deb_test.sh" install "$deb" >"$work/results/deb-install.log" 2>&1; then
				passed=$((passed + 1))
				printf '%-44s ... ok\n' 'deb/install'
			else
				failed=$((failed + 1))
				rc=1
				printf '%-44s ... FAILED\n' 'deb/install'
				cat "$work/results/deb-install.log" 2>/dev/null
			fi
			echo "$passed passed, $failed failed"
		fi
		if [ $rc -eq 0 ]; then rm -rf "$work"; else say "results kept in $work/results"; fi
		exit $rc
	fi
	exec bash "$top/test/run.sh" --inner
fi

cd "$top" || exit 1
rm -rf tmp_install tmp_check results
say "building and installing into $top/tmp_install"
temp_install "$top/tmp_install" || { echo "0 passed, 1 failed"; exit 1; }
pgbin=$(dirname "$(command -v postgres)")
pg_regress=$PGXS_DIR/src/test/regress/pg_regress
pg_isolation_regress=$PGXS_DIR/src/test/isolation/pg_isolation_regress

passed=0
failed=0
failures=()

# count_results LOG SUITE: tally pg_regress-style "name ... ok|FAILED" lines.
count_results() {
	local log=$1 suite=$2 name status
	while read -r name status; do
		if [ "$status" = ok ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures+=("$suite/$name")
		fi
	done < <(sed -nE 's/^(test |     )?([^ ]+) +\.\.\. +(ok|FAILED|failed).*/\2 \3/p' "$log")
}

run_regress_suite() {	# run_regress_suite SUITE BINARY INPUTDIR TEST...
	local suite=$1 binary=$2 inputdir=$3
	shift 3
	[ $# -eq 0 ] && return 0
	say "$suite: $*"
	mkdir -p "results/$suite" tmp_check
	"$binary" --temp-instance="tmp_check/$suite" --bindir="$pgbin" \
		--inputdir="$inputdir" --outputdir="results/$suite" \
		--load-extension=crm --encoding=UTF8 --temp-config=test/regress.conf "$@" \
		>"results/$suite.log" 2>&1
	local rc=$?
	cat "results/$suite.log"
	count_results "results/$suite.log" "$suite"
	if [ $rc -ne 0 ] && ! grep -qE '\.\.\. +(FAILED|failed)' "results/$suite.log"; then
		failed=$((failed + 1))
		failures+=("$suite (did not run)")
	fi
	[ -f "results/$suite/regression.diffs" ] && cat "results/$suite/regression.diffs"
}

regress_tests=()
for f in sql/*.sql; do
	[ -e "$f" ] || continue
	t=$(basename "$f" .sql)
	selected "$t" && regress_tests+=("$t")
done
run_regress_suite regress "$pg_regress" . "${regress_tests[@]}"

isolation_tests=()
for f in test/isolation/specs/*.spec; do
	[ -e "$f" ] || continue
	t=$(basename "$f" .spec)
	selected "$t" && isolation_tests+=("$t")
done
run_regress_suite isolation "$pg_isolation_regress" test/isolation "${isolation_tests[@]}"

mkdir -p results/tap
portlock=/tmp/crm-portlock-$(id -u)	# shared by concurrent runs of one user
mkdir -p "$portlock"
for f in test/t/*.pl; do
	[ -e "$f" ] || continue
	t=${f#test/}
	selected "$t" || continue
	name=$(basename "$f" .pl)
	say "tap: $t"
	start=$(date +%s)
	mkdir -p "tmp_check/tap/$name"
	LANG=C.UTF-8 LC_ALL=C.UTF-8 PG_TEST_PORT_DIR="$portlock" \
	TESTDIR="$top/tmp_check/tap/$name" PG_REGRESS="$pg_regress" CRM_SRC="$top" \
		prove -I "$PGXS_DIR/src/test/perl" "$f" \
		>"results/tap/$name.log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		passed=$((passed + 1))
		printf 'tap %-40s ... ok  %ss\n' "$t" $(($(date +%s) - start))
	else
		failed=$((failed + 1))
		failures+=("tap/$t")
		printf 'tap %-40s ... FAILED  %ss\n' "$t" $(($(date +%s) - start))
		cat "results/tap/$name.log"
		find "tmp_check/tap/$name/tmp_check/log" -name '*.log' -exec sh -c 'echo "--- $1"; tail -n 60 "$1"' _ {} \; 2>/dev/null
	fi
done

if selected deb/contents; then
	say "deb/contents"
	mkdir -p results/deb
	if bash test/deb/deb_test.sh contents "$top/results/deb" >results/deb.log 2>&1; then
		passed=$((passed + 1))
		printf '%-44s ... ok\n' 'deb/contents'
	else
		failed=$((failed + 1))
		failures+=("deb/contents")
		printf '%-44s ... FAILED\n' 'deb/contents'
		cat results/deb.log
	fi
fi

[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
