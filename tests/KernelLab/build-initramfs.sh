#!/usr/bin/env bash
# build-initramfs.sh KERNEL_CACHE OUTPUT
#
# Builds the lab's initramfs (an uncompressed newc cpio archive) for the kernel unpacked in
# KERNEL_CACHE by prepare-kernel.sh:
#   /bin/busybox (+ applet links)   from busybox-static
#   /init, /lab/stage2               from initramfs/ next to this script
#   /lib/modules/VERSION/...         the modules listed in initramfs/modules and everything they
#                                    depend on, with a modules.dep of their own (depmod -b)
#   /etc/lab/insmod.order            "path [params]" lines: the boot+preload modules in load order
# Skips the build when OUTPUT is newer than all of its inputs.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:?usage: build-initramfs.sh KERNEL_CACHE OUTPUT}
out=${2:?usage: build-initramfs.sh KERNEL_CACHE OUTPUT}
cache=$(cd "$cache" && pwd)
version=$(<"$cache/version")
moddir=$cache/lib/modules/$version

log() { echo "build-initramfs: $*" >&2; }

busybox=$(command -v busybox || true)
for candidate in /bin/busybox /usr/bin/busybox; do
    [[ -x $candidate ]] && busybox=$candidate
done
[[ -n $busybox ]] || { log "busybox not found (apt-get install busybox-static)"; exit 1; }
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
    # Without `file`, trust ldd: a static binary is "not a dynamic executable".
    ldd "$busybox" >/dev/null 2>&1 && { log "$busybox is not static (apt-get install busybox-static)"; exit 1; }
fi

inputs=("$0" "$here/initramfs/init" "$here/initramfs/stage2" "$here/initramfs/modules" "$cache/version" "$busybox")
if [[ -s $out ]]; then
    fresh=1
    for f in "${inputs[@]}"; do [[ $f -nt $out ]] && fresh=0; done
    if ((fresh)); then log "up to date: $out"; exit 0; fi
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,dev,proc,sys,etc/lab,lab,host,rw,newroot,lib/modules/"$version"}

# busybox and its applets
cp "$busybox" "$stage/bin/busybox"
for applet in $("$stage/bin/busybox" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$stage/bin/$applet"
done

# Modules: copy each listed module with its dependencies; record the load order.
declare -A copied=() ordered=()
: > "$stage/etc/lab/insmod.order"
while read -r when module; do
    [[ -z $when || $when == \#* ]] && continue
    deps=$(modprobe -d "$cache" -S "$version" --show-depends "$module") \
        || { log "cannot resolve module $module"; exit 1; }
    while read -r kind path params; do
        [[ $kind == insmod ]] || continue          # "builtin NAME" needs nothing
        rel=${path#"$moddir"/}
        if [[ -z ${copied[$rel]:-} ]]; then
            mkdir -p "$stage/lib/modules/$version/$(dirname "$rel")"
            cp "$path" "$stage/lib/modules/$version/$rel"
            copied[$rel]=1
        fi
        if [[ $when != ondemand && -z ${ordered[$rel]:-} ]]; then
            echo "/lib/modules/$version/$rel${params:+ $params}" >> "$stage/etc/lab/insmod.order"
            ordered[$rel]=1
        fi
    done <<< "$deps"
done < "$here/initramfs/modules"
for f in modules.order modules.builtin modules.builtin.modinfo; do
    [[ -f $moddir/$f ]] && cp "$moddir/$f" "$stage/lib/modules/$version/"
done
depmod -b "$stage" "$version"

install -m 0755 "$here/initramfs/init" "$stage/init"
install -m 0755 "$here/initramfs/stage2" "$stage/lab/stage2"
echo "$version" > "$stage/etc/lab/version"

mkdir -p "$(dirname "$out")"
(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --quiet -o -0 -H newc -R 0:0) > "$out.tmp"
mv "$out.tmp" "$out"
log "$out: ${#copied[@]} modules, $(du -h "$out" | cut -f1)"
