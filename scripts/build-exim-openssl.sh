#!/usr/bin/env bash
# Build the Exim that Debian ships (4.96, from Debian's source package, Debian's patches applied)
# with OpenSSL instead of GnuTLS, installed under a prefix of its own: .cache/exim-openssl/.
# RHEL, Fedora, Alma/Rocky and most source builds link Exim against OpenSSL, which reads a trust
# directory through subject-hash links and trusts the system CA store; the tests run this binary
# to exercise that side (tests/lib/exim.py, tests/integration/test_openssl_*.py).
#
# Cached: built once per machine and rebuilt only when this script or the prefix changes (the key
# is in PREFIX/.build-key). A cache hit needs neither apt nor the network. A failed build leaves
# the previous installation (or none) in place, never a half-installed prefix.
# Network: apt only (deb-src entry, `apt-get source`). Build dependencies: scripts/install-deps.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$ROOT/.cache"
PREFIX="${EXIM_OPENSSL_PREFIX:-$CACHE/exim-openssl}"
WORK="$CACHE/exim-openssl.build"
UPSTREAM=4.96
JOBS="${EXIM_OPENSSL_JOBS:-2}"
DEB_SRC_LIST=/etc/apt/sources.list.d/certrelay-deb-src.sources

log() { echo "build-exim-openssl: $*"; }
die() { echo "build-exim-openssl: $*" >&2; exit 1; }

case "$PREFIX" in /*) ;; *) die "EXIM_OPENSSL_PREFIX must be an absolute path: $PREFIX" ;; esac
key=$( { cat "${BASH_SOURCE[0]}"; echo "$PREFIX"; } | sha256sum | cut -d' ' -f1)

mkdir -p "$CACHE"
exec 9>"$CACHE/exim-openssl.lock"
flock 9     # two checkouts' `make test` at once build it once, the second waits

if [ -x "$PREFIX/bin/exim" ] && [ "$(cat "$PREFIX/.build-key" 2>/dev/null)" = "$key" ]; then
  log "cached: $PREFIX/bin/exim ($(cat "$PREFIX/.build-info" 2>/dev/null))"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo -n); else SUDO=(); fi
for tool in dpkg-source cc make perl pkg-config; do
  command -v "$tool" >/dev/null || die "'$tool' missing: run scripts/install-deps.sh"
done
[ -f /usr/include/openssl/ssl.h ] || die "libssl-dev missing: run scripts/install-deps.sh"

# --- source: a deb-src entry for the suites the binary packages come from --------------------------
have_deb_src() { [[ "$(apt-cache showsrc exim4 2>/dev/null)" == *"Version: $UPSTREAM-"* ]]; }
if ! have_deb_src; then
  if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    log "adding $DEB_SRC_LIST (deb-src for the entries of debian.sources)"
    sed 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
      | "${SUDO[@]}" tee "$DEB_SRC_LIST.tmp" >/dev/null
    "${SUDO[@]}" mv "$DEB_SRC_LIST.tmp" "$DEB_SRC_LIST"
  fi
  "${SUDO[@]}" apt-get update -qq
  have_deb_src || die "no exim4 $UPSTREAM source package after apt-get update: check the deb-src entries"
fi

rm -rf "$WORK" && mkdir -p "$WORK/src"
cd "$WORK/src"
# Prefer the revision of the installed exim4 (the GnuTLS binary the other tests run), then the
# newest $UPSTREAM revision the mirror actually serves (an index may list a security update whose
# files a mirror or snapshot no longer has).
installed=$(dpkg-query -W -f='${source:Version}' exim4-daemon-heavy 2>/dev/null || true)
candidates=$( { echo "$installed"; apt-cache showsrc exim4 | sed -n "s/^Version: \($UPSTREAM-.*\)/\1/p" | sort -rV; } | awk 'NF && !seen[$0]++')
fetched=
for candidate in $candidates; do
  if apt-get source -qq "exim4=$candidate" >"$WORK/source.log" 2>&1; then fetched=$candidate; break; fi
  log "exim4 $candidate not downloadable, trying the next revision"
  find . -mindepth 1 -delete
done
[ -n "$fetched" ] || { cat "$WORK/source.log" >&2; die "apt-get source exim4 failed for every revision: $candidates"; }
tree=$(find . -maxdepth 1 -type d -name "exim4-$UPSTREAM*" | head -n1)
[ -n "$tree" ] || die "apt-get source gave no exim4-$UPSTREAM tree"
version=$(sed -n '1s/.*(\(.*\)).*/\1/p' "$tree/debian/changelog")
cd "$tree"

# Debian's 32_exim4 makes the binary re-exec itself (exim_path) and its scripts call it as
# BIN_DIRECTORY/exim4. This prefix installs it as exim, the name RHEL uses: undo the rename, or
# every re-exec (delivery, a HUP'd daemon) fails with "No such file". Later Debian patches touch
# the same scripts, so a reverse patch does not apply: rewrite the names instead.
sed -i 's|BIN_DIRECTORY "/exim4"|BIN_DIRECTORY "/exim"|' src/globals.c
sed -i 's|BIN_DIRECTORY/exim4|BIN_DIRECTORY/exim|' src/*.src
sed -i "s|'/exim4( |'/exim( |; s|_MULTIKILL_ARG=exim4|_MULTIKILL_ARG=exim|" OS/Makefile-Linux
grep -q 'BIN_DIRECTORY "/exim"' src/globals.c || die "could not reset exim_path in src/globals.c"
! grep -rq 'BIN_DIRECTORY[ "/]*exim4' src/globals.c src/*.src || die "exim4 paths left after the reset"

# Everything compiled in points into the prefix; tests always pass -C and their own paths.
# EXIM_USER ref:exim: looked up when Exim starts, not at build time (the tests create that user).
# TRUSTED_CONFIG_LIST: configs listed there keep root privilege under -C (the tests' own file).
mkdir -p Local
cat >Local/Makefile <<EOF
BIN_DIRECTORY=$PREFIX/bin
CONFIGURE_FILE=$PREFIX/etc/exim.conf
TRUSTED_CONFIG_LIST=$PREFIX/etc/trusted_configs
SYSTEM_ALIASES_FILE=$PREFIX/etc/aliases
SPOOL_DIRECTORY=$PREFIX/spool
LOG_FILE_PATH=$PREFIX/log/%slog
PID_FILE_PATH=$PREFIX/exim.pid
EXIM_USER=ref:exim
EXIM_GROUP=ref:exim
FIXED_NEVER_USERS=root
USE_OPENSSL=yes
USE_OPENSSL_PC=openssl
TLS_LIBS=-lssl -lcrypto
SUPPORT_DANE=yes
HAVE_IPV6=yes
PCRE2_CONFIG=yes
ROUTER_ACCEPT=yes
ROUTER_DNSLOOKUP=yes
ROUTER_IPLITERAL=yes
ROUTER_MANUALROUTE=yes
ROUTER_QUERYPROGRAM=yes
ROUTER_REDIRECT=yes
TRANSPORT_APPENDFILE=yes
TRANSPORT_AUTOREPLY=yes
TRANSPORT_PIPE=yes
TRANSPORT_SMTP=yes
SUPPORT_MAILDIR=yes
LOOKUP_DBM=yes
LOOKUP_LSEARCH=yes
LOOKUP_DNSDB=yes
HEADERS_CHARSET="ISO-8859-1"
SYSLOG_LOG_PID=yes
EXICYCLOG_MAX=10
COMPRESS_COMMAND=/usr/bin/gzip
COMPRESS_SUFFIX=gz
ZCAT_COMMAND=/usr/bin/zcat
EXIM_TMPDIR="/tmp"
NO_SYMLINK=yes
EOF

log "building Exim $version with $(openssl version | cut -d' ' -f1-2) (make -j$JOBS)"
start=$SECONDS
make -j"$JOBS" >"$WORK/make.log" 2>&1 || { tail -n 40 "$WORK/make.log" >&2; die "make failed (full log: $WORK/make.log)"; }
stage="$WORK/stage"
make install DESTDIR="$stage" >"$WORK/install.log" 2>&1 \
  || { tail -n 40 "$WORK/install.log" >&2; die "make install failed (full log: $WORK/install.log)"; }
elapsed=$((SECONDS - start))

built="$stage$PREFIX"
[ -x "$built/bin/exim" ] || die "make install left no $built/bin/exim"
# -bV needs the user exim, which exists only while tests run: check the linkage instead
libs=$(ldd "$built/bin/exim")
[[ "$libs" == *libssl.so* && "$libs" != *gnutls* ]] || die "the built binary is not linked with OpenSSL alone"
mkdir -p "$built/etc" "$built/spool" "$built/log"
: >"$built/etc/trusted_configs"
echo "Exim $version, $(openssl version | cut -d' ' -f1-2), built in ${elapsed} s on $(date -u +%FT%TZ)" >"$built/.build-info"
echo "$key" >"$built/.build-key"

rm -rf "$PREFIX.old"
[ -e "$PREFIX" ] && mv "$PREFIX" "$PREFIX.old"
mv "$built" "$PREFIX"
rm -rf "$PREFIX.old" "$WORK"
log "built in ${elapsed} s: $PREFIX/bin/exim"
