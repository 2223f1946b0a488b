#!/bin/sh
# Installs VictoriaMetrics (Debian package `victoria-metrics`, binary
# /usr/bin/victoria-metrics) from Debian's newer suite, with apt's own tools.
#
# The machine's Debian release (bookworm) has no VictoriaMetrics; trixie does.
# The mirror is not named here: the script reads the URIs of the machine's
# configured Debian archive (deb822 .sources or one-line sources.list) and
# adds the newer suite on those same URIs, pinned at priority 100 so that
# nothing else is upgraded from it later. The install itself takes
# victoria-metrics and what it needs (libzstd1, libc6 and the packages tied to
# them) from the newer suite; the pin stays, so a later `apt-get upgrade`
# leaves the rest alone.
#
# Usage: scripts/install-victoriametrics.sh [SUITE]   (default: trixie)
# Idempotent: does nothing when victoria-metrics is already on PATH.
set -eu

SUITE="${1:-trixie}"
PACKAGE=victoria-metrics
LIST=/etc/apt/sources.list.d/tidepool-newer.sources
PIN=/etc/apt/preferences.d/tidepool-newer

if command -v "$PACKAGE" >/dev/null 2>&1; then
    echo "$PACKAGE already installed: $(command -v "$PACKAGE")"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi

# The URIs of the main Debian archive the machine already uses (not
# debian-security, not third-party repositories).
uri=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    [ "$f" = "$LIST" ] && continue
    found=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
    if [ -n "$found" ]; then uri="$found"; break; fi
done
if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -e "$f" ] || continue
        found=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
        if [ -n "$found" ]; then uri="$found"; break; fi
    done
fi
if [ -z "$uri" ]; then
    echo "install-victoriametrics: no Debian archive found in the apt sources" >&2
    exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

echo "adding $SUITE from $uri (pinned at 100), installing $PACKAGE"
printf 'Types: deb\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
    "$uri" "$SUITE" "$keyring" | $SUDO tee "$LIST" >/dev/null
printf 'Package: *\nPin: release n=%s\nPin-Priority: 100\n' "$SUITE" | $SUDO tee "$PIN" >/dev/null

$SUDO apt-get update -qq
apt-cache policy "$PACKAGE"
# `-t SUITE`: the package needs libzstd1 >= 1.5.5, and trixie's libzstd1
# needs trixie's libc6, which breaks bookworm's locales, dpkg and gcc
# runtime libraries: apt must be allowed to take that set from the newer
# suite. (`PACKAGE/SUITE` alone keeps the dependencies at bookworm's
# candidates, and bookworm's libzstd1 is 1.5.4.) On a clean bookworm
# (debootstrap minbase) it upgrades libzstd1 alone; where the zstd tool is
# installed, zstd's exact dependency on libzstd1 drags trixie's zstd and,
# through its libstdc++6 and libc6, the gcc-14 runtime, dpkg and locales.
# Both were tried; the machine kept building and testing afterwards.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends -t "$SUITE" "$PACKAGE"
