#!/usr/bin/env bash
# Prints the Debian mirror the build fetches from: $ISCSI_UP_SYSROOT_MIRROR, or else the first Debian
# archive URI (one ending in /debian) of this machine's apt sources, one-line or deb822 style.
set -euo pipefail
if [ -n "${ISCSI_UP_SYSROOT_MIRROR:-}" ]; then echo "$ISCSI_UP_SYSROOT_MIRROR"; exit 0; fi
mirror=$({
  grep -hE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    sed -E 's/^[[:space:]]*deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/'
  grep -hE '^[[:space:]]*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    sed -E 's/^[[:space:]]*URIs:[[:space:]]*//' | tr ' ' '\n'
} | grep -E '/debian/?$' | head -n 1) || true
[ -n "$mirror" ] || { echo "debian-mirror.sh: no Debian mirror in /etc/apt's sources; set ISCSI_UP_SYSROOT_MIRROR=URI of one" >&2; exit 1; }
echo "${mirror%/}"
