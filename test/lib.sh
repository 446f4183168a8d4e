# test/lib.sh: shell helpers shared by `make test`, `make demo` and `make bench`.
#
# Sourced, not run.  The three commands start as root on a fresh Debian 12
# machine: they install what is missing, then do everything else as the
# unprivileged user $CRM_USER in a private copy of the tree, because initdb and
# postgres refuse to run as root.

CRM_USER=${CRM_USER:-crmtest}
PG_MAJOR=15

# Debian packages the commands need (bench adds postfix for smtp-sink).
CRM_PACKAGES="make gcc libc6-dev openssl ca-certificates \
postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib \
libcurl4-openssl-dev libipc-run-perl \
python3 python3-aiosmtpd python3-statsmodels python3-sklearn python3-pandas r-cran-forecast \
chromium fonts-noto-cjk python3-pil python3-prometheus-client python3-yaml debhelper dpkg-dev \
postgresql-server-dev-all"

say() { printf '==> %s\n' "$*" >&2; }

# ensure_packages PKG...: apt-get install the ones not installed yet.
ensure_packages() {
	local missing=() pkg
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$pkg")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		say "missing Debian packages: ${missing[*]} (run as root to install them)"
		return 1
	fi
	say "installing ${missing[*]}"
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_user: the unprivileged account the clusters run as.
ensure_user() {
	id -u "$CRM_USER" >/dev/null 2>&1 ||
		useradd --system --create-home --shell /bin/bash "$CRM_USER"
}

# private_copy SRC: copy the tree (without build output) into a fresh
# directory owned by $CRM_USER and print its path.
private_copy() {
	local src=$1 dest
	dest=$(mktemp -d /tmp/crm-work.XXXXXX)
	tar -C "$src" --exclude=./.git --exclude='*.o' --exclude='*.so' \
		--exclude=./tmp_install --exclude=./tmp_check --exclude=./results --exclude=./dist -cf - . |
		tar -C "$dest" -xf -
	chown -R "$CRM_USER": "$dest"
	chmod 755 "$dest"
	echo "$dest"
}

# temp_install DIR: build, then install PostgreSQL's own tree plus crm into
# DIR, the way PostgreSQL's `make check` does: Debian's binaries find share/
# and lib/ relative to their own location, so the copy is self-contained and
# the system installation is never touched.
temp_install() {
	local dir=$1 pgbin
	pgbin=$(pg_config --bindir)
	mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql"
	cp -a "/usr/lib/postgresql/$PG_MAJOR" "$dir/usr/lib/postgresql/"
	cp -a "/usr/share/postgresql/$PG_MAJOR" "$dir/usr/share/postgresql/"
	make -s -j"$(nproc)" WERROR=-Werror >/dev/null
	make -s install WERROR=-Werror DESTDIR="$dir" >/dev/null
	export PATH="$dir$pgbin:$PATH"
	export PGXS_DIR="$dir/usr/lib/postgresql/$PG_MAJOR/lib/pgxs"
}
