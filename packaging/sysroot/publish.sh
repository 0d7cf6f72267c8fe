#!/usr/bin/env bash
# Publishes the iscsi-up executable that the RPM ships and that runs on RHEL 8, 9 and 10 (x86_64):
#   packaging/sysroot/publish.sh DIR   ->   DIR/iscsi-up, needing glibc 2.28 at most (checked here)
# It is `dotnet publish src/Cli -c Release -r linux-x64 -o DIR` (NativeAOT) linked against an older glibc:
# -p:SysRoot= points clang at Debian 11's glibc 2.31 (packaging/sysroot/fetch.sh fetches it, pinned by
# version and SHA-256), and src/Cli imports glibc-compat.targets, which binds libm's pow/exp/log to their
# old symbol versions (the only symbols a glibc 2.31 link takes from above 2.28). A plain
# `dotnet publish src/Cli -c Release -o DIR` still works and runs where it was built (and on newer glibc).
#
# Why this way. A glibc executable needs the newest symbol version it was linked against (objdump -T), and
# glibc keeps every old version working: link against an old glibc and the result runs on it and on every
# newer one. Linked on Debian 12 (glibc 2.36), iscsi-up needed GLIBC_2.34 and did not start on RHEL 8
# (glibc 2.28); linked here it needs GLIBC_2.17. The .NET runtime's own native parts ask for no more.
# - OpenSSL: NativeAOT links .NET's System.Security.Cryptography.Native statically, in its "portable" form,
#   which has no DT_NEEDED on libssl and dlopen()s the system's at first use (libssl.so.3, then .so.1.1, ...):
#   RHEL 8 gives it OpenSSL 1.1.1, RHEL 9/10 OpenSSL 3, so FIPS mode and crypto policies keep applying.
#   (CHAP's MD5/SHA hashes go through it.) Nothing else is linked but libc, libm, libdl, libpthread, librt.
# - Rejected (measured on a test app): linking glibc statically (it aborted at start-up: NSS and dlopen need
#   the dynamic loader); musl
#   (NativeAOT's linux-musl packages are not served here, and a musl binary cannot load the system's
#   glibc-built OpenSSL); a self-contained, non-AOT single file (5-16x larger and 6-15x slower to start, and
#   its host needs a glibc too); building on a RHEL 8 machine or image (CI runs on Debian).
# - Why bullseye's glibc 2.31 and not 2.28 itself: it is the oldest glibc still on the Debian mirror the
#   build uses. Its only symbols newer than 2.28 that iscsi-up touched were pow and log@GLIBC_2.29, and
#   check-glibc.sh fails the build if any other one ever appears, instead of it failing on a RHEL 8 machine.
#
# Needs: the .NET SDK, clang and binutils (objdump, ld), apt-get/dpkg and the network for the first fetch.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

sysroot=$(bash "$here/fetch.sh" | tail -n 1)
echo "publish.sh: dotnet publish src/Cli -c Release -r linux-x64 -p:SysRoot=$sysroot -o $out" >&2
dotnet publish "$repo/src/Cli" -c Release -r linux-x64 -nologo -v quiet -p:SysRoot="$sysroot" -o "$out" >&2
bash "$here/check-glibc.sh" "$out/iscsi-up" >&2
