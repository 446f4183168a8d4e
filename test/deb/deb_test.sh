#!/bin/bash
# test/deb/deb_test.sh: the Debian package, in two parts (test/run.sh calls
# both; each prints "deb/<part> ... ok|FAILED" and exits non-zero on failure).
#
#   deb_test.sh contents OUTDIR   (any user) checks META.json against the
#       PGXN meta spec, builds postgresql-15-crm with debian/build.sh into
#       OUTDIR and checks the .deb: its control fields,
#       crm.so, crm.control and the install script, nothing outside
#       PostgreSQL's directories and the package's docs.
#   deb_test.sh install DEB       (root only: CI runs make test as root)
#       installs DEB with apt, creates the extension from it in a scratch
#       cluster of the system's PostgreSQL with crm preloaded (the worker
#       delivers a message), then purges it and what apt pulled in with it,
#       and puts back any crm files that were there before, so the system is
#       left as it was found.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
. "$top/test/lib.sh"
PKG=postgresql-$PG_MAJOR-crm
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin

fail() { echo "deb: $*"; exit 1; }

contents() {
	local out=$1 deb listing fields version
	/usr/bin/python3 "$top/test/deb/pgxn_meta_check.py" "$top/META.json" >/dev/null ||
		fail "$(/usr/bin/python3 "$top/test/deb/pgxn_meta_check.py" "$top/META.json")"
	bash "$top/debian/build.sh" "$out" >/dev/null || fail "make deb failed"
	deb=$(ls "$out"/${PKG}_*_*.deb 2>/dev/null | grep -v dbgsym | head -n 1)
	[ -n "$deb" ] || fail "no $PKG .deb in $out"
	fields=$(dpkg-deb -f "$deb" Package Version Architecture Depends)
	grep -qx "Package: $PKG" <<<"$fields" || fail "wrong package name: $fields"
	version=$(sed -nE 's/^Version: ([0-9.]+)-[0-9]+$/\1/p' <<<"$fields")
	[ "$version" = "$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["version"])' "$top/META.json")" ] ||
		fail "package version $version is not META.json's"
	grep -q "^Depends: .*postgresql-$PG_MAJOR" <<<"$fields" || fail "does not depend on postgresql-$PG_MAJOR: $fields"
	grep -q "^Depends: .*libcurl4" <<<"$fields" || fail "does not depend on libcurl4: $fields"
	listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
	for f in "./usr/lib/postgresql/$PG_MAJOR/lib/crm.so" \
		"./usr/share/postgresql/$PG_MAJOR/extension/crm.control" \
		"./usr/share/postgresql/$PG_MAJOR/extension/crm--$(sed -nE 's/^EXTVERSION *= *//p' "$top/Makefile").sql" \
		"./usr/share/doc/$PKG/copyright"; do
		grep -qxF "$f" <<<"$listing" || fail "$f is missing from the package"
	done
	grep -vE "^\./(usr/(lib|share)/postgresql/($PG_MAJOR/.*)?|usr/share/doc/$PKG/.*|usr/|usr/lib/|usr/share/|usr/share/doc/)?$" <<<"$listing" |
		grep . && fail "files outside PostgreSQL's directories"
	dpkg-deb -x "$deb" "$out/root" || fail "cannot unpack $deb"
	[ "$(head -c 4 "$out/root/usr/lib/postgresql/$PG_MAJOR/lib/crm.so" | tail -c 3)" = ELF ] ||
		fail "crm.so is not an ELF file"
	grep -q "module_pathname = '\$libdir/crm'" "$out/root/usr/share/postgresql/$PG_MAJOR/extension/crm.control" ||
		fail "crm.control does not name \$libdir/crm"
	return 0
}

install() {
	local deb=$1 before after new saved port dir rc=0 f
	[ "$(id -u)" -eq 0 ] || fail "install needs root"
	if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'install ok installed'; then
		echo "deb: $PKG was installed before; not replacing it"
		return 0
	fi
	saved=$(mktemp -d /tmp/crm-deb-saved.XXXXXX)
	dir=$(mktemp -d /tmp/crm-deb-cluster.XXXXXX)
	chown "$CRM_USER" "$dir"
	# crm files a source install (make install, make demo) left in the system
	for f in $(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ {print substr($6, 2)}'); do
		[ -e "$f" ] && mkdir -p "$saved$(dirname "$f")" && cp -a "$f" "$saved$f"
	done
	before=$(dpkg-query -W -f='${Package}\n' | sort)

	apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -y -q "$@" >"$dir/apt.log" 2>&1; }
	if ! apt_get install --no-install-recommends "$deb"; then
		cat "$dir/apt.log"; echo "deb: apt-get install failed"; rc=1
	else
		after=$(dpkg-query -W -f='${Package}\n' | sort)
		new=$(comm -13 <(echo "$before") <(echo "$after"))
		port=$(( 50000 + RANDOM % 10000 ))
		runuser -u "$CRM_USER" -- "$PGBIN/initdb" -A trust -E UTF8 --locale=C.UTF-8 -U postgres -D "$dir/data" >/dev/null &&
		cat >>"$dir/data/postgresql.conf" <<EOC &&
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
shared_preload_libraries = 'crm'
crm.poll_interval = '1s'
EOC
		runuser -u "$CRM_USER" -- "$PGBIN/pg_ctl" -w -D "$dir/data" -l "$dir/log" start >/dev/null || { rc=1; echo "deb: the scratch cluster did not start"; }
		if [ $rc -eq 0 ]; then
			local psql=("$PGBIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$dir" -p "$port" -U postgres -d postgres)
			runuser -u "$CRM_USER" -- "${psql[@]}" -c 'CREATE EXTENSION crm' &&
			[ "$(runuser -u "$CRM_USER" -- "${psql[@]}" -c "SELECT extversion FROM pg_extension WHERE extname = 'crm'")" = \
			  "$(sed -nE "s/^default_version = '(.*)'/\1/p" "$top/crm.control")" ] ||
				{ rc=1; echo "deb: CREATE EXTENSION crm failed"; }
			runuser -u "$CRM_USER" -- "${psql[@]}" -c "SELECT crm.send_email('wang.fang@example.com', '欢迎', '您好')" >/dev/null ||
				{ rc=1; echo "deb: crm.send_email failed"; }
			for _ in $(seq 1 100); do
				[ "$(runuser -u "$CRM_USER" -- "${psql[@]}" -c "SELECT status FROM crm.email_outbox")" = sent ] && break
				sleep 0.2
			done
			[ "$(runuser -u "$CRM_USER" -- "${psql[@]}" -c "SELECT status FROM crm.email_outbox")" = sent ] ||
				{ rc=1; echo "deb: the packaged worker did not deliver the message"; tail -n 20 "$dir/log"; }
			runuser -u "$CRM_USER" -- "$PGBIN/pg_ctl" -w -D "$dir/data" stop >/dev/null
		fi
		# put the system back: the package, what apt brought with it, the old files
		apt_get purge "$PKG" $(grep -vx "$PKG" <<<"$new") || { cat "$dir/apt.log"; rc=1; echo "deb: apt-get purge failed"; }
	fi
	for f in $(cd "$saved" && find . -type f -o -type l); do
		mkdir -p "$(dirname "/${f#./}")" && cp -a "$saved/$f" "/${f#./}"
	done
	[ "$(dpkg-query -W -f='${Package}\n' | sort)" = "$before" ] || { rc=1; echo "deb: the installed packages differ from before"; }
	for f in $(cd "$saved" && find . -type f); do
		cmp -s "$saved/$f" "/${f#./}" || { rc=1; echo "deb: /${f#./} was not restored"; }
	done
	[ -e "/usr/lib/postgresql/$PG_MAJOR/lib/crm.so" ] && [ ! -e "$saved/usr/lib/postgresql/$PG_MAJOR/lib/crm.so" ] &&
		{ rc=1; echo "deb: crm.so left behind"; }
	rm -rf "$saved" "$dir"
	return $rc
}

case ${1:-} in
	contents) contents "$2" ;;
	install) install "$2" ;;
	*) echo "usage: $0 contents OUTDIR | install DEB" >&2; exit 2 ;;
esac
