#!/usr/bin/env bash
# prepare-kernel.sh CACHE_DIR
#
# Downloads Debian's current stock kernel package (linux-image-<version>-amd64), unpacks it
# into CACHE_DIR and runs depmod there. Prints the kernel version on stdout.
# Idempotent: does nothing when CACHE_DIR already holds an unpacked, depmod'ed kernel.
#
# Layout afterwards:
#   CACHE_DIR/boot/vmlinuz-VERSION
#   CACHE_DIR/lib/modules/VERSION/...        (with modules.dep)
#   CACHE_DIR/version                         (one line: VERSION)
set -euo pipefail

cache=${1:?usage: prepare-kernel.sh CACHE_DIR}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

log() { echo "prepare-kernel: $*" >&2; }

if [[ -s $cache/version ]]; then
    version=$(<"$cache/version")
    if [[ -f $cache/boot/vmlinuz-$version && -s $cache/lib/modules/$version/modules.dep ]]; then
        log "cached: $version"
        echo "$version"
        exit 0
    fi
fi

# Resolve the exact package behind the linux-image-amd64 meta-package.
resolve() {
    local p
    p=$(apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '/Depends: linux-image-[0-9].*-amd64$/ {print $2; exit}')
    [[ -n $p ]] || p=$(apt-cache search --names-only '^linux-image-[0-9.]+-[0-9]+-amd64$' \
                       | awk '{print $1}' | sort -V | tail -n1)
    echo "$p"
}
pkg=$(resolve)
if [[ -z $pkg && $EUID == 0 ]]; then
    log "no package lists yet: apt-get update"
    apt-get update -q >&2
    pkg=$(resolve)
fi
[[ -n $pkg ]] || { log "cannot resolve a linux-image-*-amd64 package (apt-get update?)"; exit 1; }
version=${pkg#linux-image-}
log "package $pkg (kernel $version)"

work=$(mktemp -d)
chmod 777 "$work"   # let apt's _apt user write the .deb (silences a warning)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download "$pkg" >&2)
deb=$(ls "$work"/*.deb)
rm -rf "${cache:?}/boot" "${cache:?}/lib" "${cache:?}/usr" "${cache:?}/etc" "${cache:?}/version"
dpkg -x "$deb" "$cache"
# Debian 12 ships modules under /lib; newer releases under /usr/lib (merged /usr).
if [[ ! -d $cache/lib/modules/$version && -d $cache/usr/lib/modules/$version ]]; then
    mkdir -p "$cache/lib/modules"
    mv "$cache/usr/lib/modules/$version" "$cache/lib/modules/"
fi
[[ -f $cache/boot/vmlinuz-$version ]] || { log "no vmlinuz in $deb"; exit 1; }
depmod -b "$cache" "$version"
echo "$version" > "$cache/version"
log "ready in $cache"
echo "$version"
