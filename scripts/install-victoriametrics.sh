#!/bin/sh
# Installs VictoriaMetrics (Debian package `victoria-metrics`, binary
# /usr/bin/victoria-metrics) from Debian's newer suite, with apt's own tools.
#
# The machine's Debian release (bookworm) has no VictoriaMetrics; trixie does.
# The mirror is not named here: the script reads the URIs of the machine's
# configured Debian archive (deb822 .sources or one-line sources.list) and
# adds the newer suite on those same URIs, pinned at priority 100 so that
# nothing else is upgraded from it. Only victoria-metrics is installed from it
# (`-t`); the pin stays, so a later `apt-get upgrade` leaves the rest alone.
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
# `PACKAGE/SUITE`, not `-t SUITE`: only the package itself (and the
# dependencies the default release cannot satisfy: libzstd1 >= 1.5.5, and
# through it libc6) come from the newer suite. `-t` would raise the whole
# suite for the transaction and upgrade more than needed.
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$PACKAGE/$SUITE"
# The package enables a system service; tests start their own instance.
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$PACKAGE" >/dev/null 2>&1 || true
fi
command -v "$PACKAGE"
