#!/bin/bash
# debian/build.sh: what `make deb` runs.  Builds postgresql-<major>-crm with
# dpkg-buildpackage -us -uc -b in a clean copy of the tree (a build leaves
# its output beside the source, and the tree may hold a developer's build),
# and puts the .deb files into OUTDIR (default dist/).  Needs the
# Build-Depends of debian/control (debhelper, postgresql-server-dev-all,
# libcurl4-openssl-dev); no root.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$top/dist}
work=$(mktemp -d /tmp/crm-deb.XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir "$work/crm"
tar -C "$top" --exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	--exclude=./tmp_install --exclude=./tmp_check --exclude=./results --exclude=./dist \
	--exclude='./crm--*.sql' -cf - . | tar -C "$work/crm" -xf -
(cd "$work/crm" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
	tail -n 40 "$work/build.log" >&2
	echo "dpkg-buildpackage failed" >&2
	exit 1
}
mkdir -p "$out"
cp "$work"/*.deb "$out"/
ls "$out"/*.deb
