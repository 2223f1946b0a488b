#!/bin/sh
# Fetches VictoriaMetrics (the OTLP receiver of tests/otlp.rs) into a private
# directory of the repository, without changing the machine: no apt source,
# no pin, no package installed or upgraded, nothing written outside DEST.
#
# The machine's Debian release (bookworm) has VictoriaMetrics 1.79, which
# predates OTLP ingestion; trixie has 1.112. This script gives apt a private
# configuration — a sources list naming only trixie main, its own lists,
# cache and (empty) dpkg status under DEST/apt — and uses it only to download
# two .deb files, verified by apt against the Debian archive keyring:
#
#   victoria-metrics   the server (a cgo Go binary: needs libc.so.6 >= 2.34
#                      and libzstd.so.1 >= 1.5.5)
#   libzstd1           trixie's zstd library (bookworm's is 1.5.4)
#
# `dpkg-deb -x` unpacks them under DEST/vm (dpkg's database is not touched:
# no maintainer scripts run), and DEST/bin/victoria-metrics runs the server
# with DEST/vm's libzstd ahead of the system's (LD_LIBRARY_PATH, for this
# process only) and the machine's own libc (bookworm's 2.36; the binary and
# libzstd need symbols up to GLIBC_2.34). Nothing else is used from trixie.
#
# The mirror is the one the machine's apt sources name for Debian (so a local
# mirror or proxy keeps working), else $DEBIAN_MIRROR, else deb.debian.org.
#
# Usage: scripts/fetch-victoriametrics.sh [DEST]   (default: .deps)
# Idempotent: does nothing when DEST/bin/victoria-metrics already runs
# (the package versions unpacked are in DEST/vm/VERSIONS).
# Undo: rm -rf DEST.
set -eu

cd "$(dirname "$0")/.."
DEST="${1:-.deps}"
SUITE=trixie
mkdir -p "$DEST"
DEST=$(cd "$DEST" && pwd)
WRAPPER="$DEST/bin/victoria-metrics"

if [ -x "$WRAPPER" ] && "$WRAPPER" -version >/dev/null 2>&1; then
    echo "victoria-metrics already fetched: $WRAPPER ($(cat "$DEST/vm/VERSIONS" 2>/dev/null | tr '\n' ' '))"
    exit 0
fi

# The URI of the main Debian archive in the machine's apt sources (deb822
# .sources or one-line .list; not debian-security, not third parties).
mirror=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
    [ -n "$mirror" ] && break
done
if [ -z "$mirror" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        mirror=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
        [ -n "$mirror" ] && break
    done
fi
mirror="${DEBIAN_MIRROR:-${mirror:-http://deb.debian.org/debian}}"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ ! -r "$keyring" ]; then
    echo "fetch-victoriametrics: $keyring missing (package debian-archive-keyring)" >&2
    exit 1
fi

apt="$DEST/apt"
rm -rf "$apt" "$DEST/vm" "$DEST/bin"
mkdir -p "$apt/sources.list.d" "$apt/preferences.d" "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/debs"
: > "$apt/status"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "$mirror" "$SUITE" "$keyring" > "$apt/sources.list.d/$SUITE.sources"

# Every path apt reads or writes, moved under $apt. The machine's apt.conf.d
# still applies (proxies); its sources, pins, lists, cache and dpkg status do
# not. As root, apt would drop to the `_apt` user to download into a
# directory that user cannot write: download as the caller instead.
set -- \
    -o Dir::Etc::SourceList=/dev/null \
    -o Dir::Etc::SourceParts="$apt/sources.list.d" \
    -o Dir::Etc::Preferences=/dev/null \
    -o Dir::Etc::PreferencesParts="$apt/preferences.d" \
    -o Dir::State="$apt" \
    -o Dir::State::Lists="$apt/lists" \
    -o Dir::State::status="$apt/status" \
    -o Dir::Cache="$apt/cache" \
    -o Dir::Cache::Archives="$apt/cache/archives" \
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false \
    -o Acquire::IndexTargets::deb::CNF::DefaultEnabled=false \
    -o APT::Sandbox::User="$(id -un)" \
    -o Debug::NoLocking=1

echo "fetching victoria-metrics and libzstd1 from $mirror $SUITE into $DEST (private apt state in $apt)"
apt-get -qq "$@" update
(cd "$apt/debs" && apt-get -qq "$@" download victoria-metrics libzstd1)
for deb in "$apt"/debs/*.deb; do
    dpkg-deb -x "$deb" "$DEST/vm"
    dpkg-deb --showformat='${Package} ${Version}\n' -W "$deb" >> "$DEST/vm/VERSIONS"
done
# Only the server is needed: drop the other tools of the package (vmagent,
# vmalert, ...) and the list, cache and .debs (about 60 MB).
find "$DEST/vm/usr/bin" -type f ! -name victoria-metrics -delete
rm -rf "$apt"

libdir=$(dirname "$(find "$DEST/vm" -name 'libzstd.so.1*' -type f | head -n 1)")
libdir=${libdir#"$DEST/"}
mkdir -p "$DEST/bin"
# Paths relative to the wrapper (the repository may move), and no PATH
# lookups inside: the tests may run it with any PATH.
cat > "$WRAPPER" <<EOF
#!/bin/sh
# VictoriaMetrics from Debian $SUITE, unpacked by scripts/fetch-victoriametrics.sh:
# trixie's libzstd ($libdir), the machine's libc.
here="\${0%/*}/.."
LD_LIBRARY_PATH="\$here/$libdir" exec "\$here/vm/usr/bin/victoria-metrics" "\$@"
EOF
chmod +x "$WRAPPER"

# Debian's build prints an empty -version, but it must run.
if ! out=$("$WRAPPER" -version 2>&1); then
    echo "fetch-victoriametrics: the unpacked server does not run:" >&2
    echo "$out" >&2
    exit 1
fi
echo "fetched into $DEST/vm: $(tr '\n' ' ' < "$DEST/vm/VERSIONS"); run it as $WRAPPER"
