#!/usr/bin/env bash
# run-vm.sh GUEST_SCRIPT [RESULTS_DIR]
#
# Boots Debian's stock kernel under qemu (TCG: this machine's nested KVM hangs a stock kernel at boot) with the
# host's / as a read-only root under a tmpfs overlay, runs GUEST_SCRIPT in the guest as root,
# and exits with its exit status. The guest has no network card (-nic none), only loopback.
#
# RESULTS_DIR (default: a new temporary directory) is shared writable with the guest and ends up with
#   guest.sh, guest.env   what the guest ran
#   output.log            the script's stdout+stderr
#   console.log           the whole serial console (kernel messages + the script's output)
#   status                the script's exit status
#   anything the script wrote to $LAB_RESULTS
#
# Exit status: the script's, or 124 when the VM hit the hard timeout, 125 when the guest
# stopped without reporting a status (boot failure, kernel panic).
#
# Environment:
#   LAB_CACHE       kernel + initramfs cache (default: REPO/out/kernel-lab)
#   LAB_BIN         directory with iscsi-up and iscsi-test-target, put first on the guest's PATH
#                   (default: REPO/out/lab-bin)
#   LAB_VM_TIMEOUT  hard limit for the whole VM in seconds (default 600)
#   LAB_QUIET=1     do not stream the console to stdout (it still goes to console.log)
#   LAB_INIT        plain (default: the script runs as the guest's init) or systemd (the script's
#                   setup phase runs, then systemd boots as PID 1 and lab-check.service runs its
#                   check phase; RESULTS_DIR/systemd/ holds what systemd-boot.sh adds to /etc)
#   LAB_BOOT        the name of this boot in a scenario that boots several times (LAB_BOOT in
#                   the guest; default "main")
#   LAB_PERSIST     a host directory shared writable with the guest at /lab/persist (state that
#                   outlives one boot: `run` gives all boots of a scenario the same one)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
script=${1:?usage: run-vm.sh GUEST_SCRIPT [RESULTS_DIR]}
[[ -f $script ]] || { echo "run-vm: no such script: $script" >&2; exit 2; }
results=${2:-$(mktemp -d /tmp/kernel-lab.XXXXXX)}
cache=${LAB_CACHE:-$repo/out/kernel-lab}
bin=${LAB_BIN:-$repo/out/lab-bin}
vm_timeout=${LAB_VM_TIMEOUT:-600}
quiet=${LAB_QUIET:-0}
init=${LAB_INIT:-plain}
boot=${LAB_BOOT:-main}
persist=${LAB_PERSIST:-}
case $init in plain | systemd) ;; *) echo "run-vm: LAB_INIT must be plain or systemd, not $init" >&2; exit 2 ;; esac

case $(realpath -m "$bin") in
    /tmp | /tmp/* | /run/* | /dev/* | /proc/* | /sys/*)
        echo "run-vm: LAB_BIN=$bin is invisible in the guest (it mounts fresh /tmp, /run, /dev, /proc, /sys)" >&2
        exit 2 ;;
esac

version=$("$here/prepare-kernel.sh" "$cache/kernel")
"$here/build-initramfs.sh" "$cache/kernel" "$cache/initramfs.cpio"

mkdir -p "$results"
results=$(cd "$results" && pwd)
rm -f "$results"/{status,output.log,console.log}
if [[ -n $persist ]]; then
    mkdir -p "$persist"
    persist=$(cd "$persist" && pwd)
fi
cp "$script" "$results/guest.sh"
# Leave the guest time to report before the host pulls the plug.
guest_timeout=$((vm_timeout > 90 ? vm_timeout - 45 : vm_timeout * 3 / 4))
rm -rf "$results/systemd"
[[ $init == systemd ]] && "$here/systemd-boot.sh" host "$results/systemd" "$guest_timeout"
{
    echo "# written by run-vm.sh for $(basename "$script")"
    printf 'export LAB_BIN=%q\n' "$bin"
    printf 'export LAB_DIR=%q\n' "$here"
    printf 'export LAB_REPO=%q\n' "$repo"
    printf 'export LAB_RESULTS=%q\n' /lab/results
    printf 'export LAB_SCENARIO=%q\n' "$(basename "$script" .sh)"
    printf 'export LAB_INIT=%q\n' "$init"
    printf 'export LAB_BOOT=%q\n' "$boot"
    [[ -n $persist ]] && printf 'export LAB_PERSIST=%q\n' /lab/persist
    [[ -n ${LAB_RPM:-} ]] && printf 'export LAB_RPM=%q\n' "$LAB_RPM"
    [[ -n ${LAB_DEB:-} ]] && printf 'export LAB_DEB=%q\n' "$LAB_DEB"
    [[ -n ${LAB_RPM_NEXT:-} ]] && printf 'export LAB_RPM_NEXT=%q\n' "$LAB_RPM_NEXT"
    printf 'LAB_TIMEOUT=%q\n' "$guest_timeout"
} > "$results/guest.env"

# shellcheck disable=SC2054  # the commas belong to qemu options
qemu=(
    qemu-system-x86_64
    -accel tcg,thread=multi -cpu max -m 2048 -smp 2
    -nographic -nic none -no-reboot
    -kernel "$cache/kernel/boot/vmlinuz-$version"
    -initrd "$cache/initramfs.cpio"
    -append "console=ttyS0 loglevel=4 panic=-1 lab.scenario=$(basename "$script" .sh)"
    -virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap
    -virtfs "local,path=$results,mount_tag=results,security_model=none,multidevs=remap"
)
[[ -n $persist ]] && qemu+=(-virtfs "local,path=$persist,mount_tag=persist,security_model=none,multidevs=remap")

start=$SECONDS
set +e
if [[ $quiet == 1 ]]; then
    timeout -k 10 "$vm_timeout" "${qemu[@]}" < /dev/null > "$results/console.log" 2>&1
    qemu_rc=$?
else
    timeout -k 10 "$vm_timeout" "${qemu[@]}" < /dev/null 2>&1 | tee "$results/console.log"
    qemu_rc=${PIPESTATUS[0]}
fi
set -e
elapsed=$((SECONDS - start))

timed_out=0
((qemu_rc == 124 || qemu_rc == 137)) && timed_out=1
if grep -aq '^lab-watchdog: ' "$results/console.log" 2> /dev/null; then
    # systemd boots: the guest's own watchdog forced the poweroff (a boot or shutdown that hung).
    echo "run-vm: $(grep -a -m1 '^lab-watchdog: ' "$results/console.log" | tr -d '\r')" >&2
    rc=124
    [[ -s $results/status && $(<"$results/status") != 0 ]] && rc=$(<"$results/status")
elif ((timed_out)) && [[ $(cat "$results/status" 2> /dev/null) == 0 ]]; then
    echo "run-vm: the guest script passed but the VM did not power off within ${vm_timeout}s (a hung shutdown? see $results/console.log)" >&2
    rc=124
elif [[ -s $results/status ]]; then
    rc=$(<"$results/status")
elif ((timed_out)); then
    echo "run-vm: VM killed after the hard timeout of ${vm_timeout}s (see $results/console.log)" >&2
    rc=124
else
    echo "run-vm: the guest reported no status (qemu exit $qemu_rc; see $results/console.log)" >&2
    rc=125
fi
echo "run-vm: $(basename "$script"): status $rc after ${elapsed}s; results in $results" >&2
exit "$rc"
