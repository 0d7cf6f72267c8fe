# shellcheck shell=bash
# guest-lib.sh: helpers for the kernel lab's guest scripts (scenarios/*.sh). Bash, sourced:
#   source "$LAB_DIR/guest-lib.sh"
# Runs inside the VM as root. run-vm.sh sets LAB_DIR, LAB_BIN (on PATH), LAB_RESULTS (the
# results share) and LAB_SCENARIO.
#
# Conventions the host-side runner relies on:
#   - a failed assertion prints one line "FAIL: <reason>" (fail, or the ERR trap for a command
#     that failed unexpectedly) and the script exits non-zero;
#   - the first "FAIL: " line of the output is the reason `run` prints (the root cause; an
#     ERR trap may add more lines while the failure unwinds).
# shellcheck disable=SC2034  # the IQNs and LOGIN_DEVICE are for the scenarios
set -Eeuo pipefail
shopt -s inherit_errexit

readonly IQN_DISK=iqn.2026-11.org.iscsi-up:disk
readonly IQN_LIO=iqn.2026-11.org.iscsi-up:lio
readonly IQN_CLIENT=iqn.2026-11.org.iscsi-up:client
readonly IQN_INTRUDER=iqn.2026-11.org.iscsi-up:intruder
readonly PORTAL=127.0.0.1:3260
# Size of each RAID-5 member disk (3 active + 1 spare: the LUN holds 2 of them). Not 64M: the
# guest's mkfs.xfs (xfsprogs >= 5.19) refuses filesystems smaller than 300 MiB. Disk files are
# sparse, so this costs no memory until written.
readonly DISK_SIZE_MIB=160

# iscsi-up keeps its runtime state and configuration under /tmp, never in the real places.
export ISCSI_UP_RUN_DIR=/tmp/iscsi-up/run ISCSI_UP_CONFIG_DIR=/tmp/iscsi-up/etc
mkdir -p "$ISCSI_UP_RUN_DIR" "$ISCSI_UP_CONFIG_DIR"

LAB_RESULTS=${LAB_RESULTS:-/tmp/lab-results}
mkdir -p "$LAB_RESULTS"
lab_start=$SECONDS
lab_dmesg_lines=$(dmesg | wc -l)

# --- reporting ---------------------------------------------------------------------------------

step() { printf '\n=== [+%ss] %s\n' "$((SECONDS - lab_start))" "$*"; }
note() { echo "--- $*"; }
fail() { echo "FAIL: $*"; exit 1; }
# fail_later REASON: a failed assertion after which the scenario can still check more (the script
# goes on, but ends with a non-zero status; the first "FAIL: " line stays the reason `run` shows).
_deferred=()
fail_later() { echo "FAIL: $*"; _deferred+=("$*"); }

# Echo a command, then run it; a non-zero status is a failure that names the command.
run() {
    echo "+ $*"
    local rc=0
    "$@" || rc=$?
    ((rc == 0)) || { echo "FAIL: '$*' exited with status $rc"; exit "$rc"; }
}

on_err() {
    local rc=$? line=$1 cmd=$2 file=${3##*/}
    # Only the script's own shell reports: a failure inside $(...) surfaces there anyway.
    [[ $BASHPID == "$$" ]] || return "$rc"
    [[ $file == guest.sh ]] && file=${LAB_SCENARIO:-scenario}.sh   # run-vm.sh copies the scenario
    echo "FAIL: $file:$line: '$cmd' exited with status $rc"
}
trap 'on_err "$LINENO" "$BASH_COMMAND" "${BASH_SOURCE[0]}"' ERR

# Functions registered with at_exit run when the script ends, last registered first.
_at_exit=()
at_exit() { _at_exit=("$*" "${_at_exit[@]}"); }
_on_exit() {
    local rc=$? f
    trap - ERR
    set +e
    mkdir -p "$LAB_RESULTS/iscsi-up"
    if ((rc == 0 && ${#_deferred[@]} > 0)); then
        rc=1
        echo
        echo "=== ${#_deferred[@]} failed assertion(s) the scenario went on after:"
        printf '  - %s\n' "${_deferred[@]}"
    fi
    if ((rc != 0)); then
        echo
        echo "=== diagnostics (status $rc)"
        echo "--- dmesg since the scenario started (last 40 lines)"
        dmesg | tail -n +"$((lab_dmesg_lines + 1))" | tail -n 40
        for f in "$ISCSI_UP_RUN_DIR"/daemon.log; do
            [[ -f $f ]] || continue
            echo "--- iscsi-up daemon log $f (last 30 lines)"
            tail -n 30 "$f"
        done
    fi
    # Regular files only: a socket or fifo cannot be created on the 9p share.
    (cd "$ISCSI_UP_RUN_DIR" 2> /dev/null && find . -type f -exec cp --parents -t "$LAB_RESULTS/iscsi-up/" {} + 2> /dev/null) \
        || true
    for f in "${_at_exit[@]}"; do eval "$f"; done
    printf '\n=== %s%s finished with status %s after %ss\n' "${LAB_SCENARIO:-scenario}" \
        "$([[ ${LAB_BOOT:-main} == main ]] || echo " (boot $LAB_BOOT, phase ${LAB_PHASE:-main})")" "$rc" "$((SECONDS - lab_start))"
    exit "$rc"
}
trap _on_exit EXIT

# --- waiting -----------------------------------------------------------------------------------

# wait_for SECONDS DESCRIPTION COMMAND...: poll COMMAND every 0.5 s until it succeeds.
wait_for() {
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    until "$@"; do
        ((SECONDS < deadline)) || fail "timed out after ${limit}s waiting for $what"
        sleep 0.5
    done
}

# --- assertions --------------------------------------------------------------------------------

# assert_contains TEXT NEEDLE WHAT
assert_contains() {
    [[ $1 == *"$2"* ]] || fail "$3: expected to contain '$2', got: $(printf '%s' "$1" | head -c 600)"
}

# assert_not_contains TEXT NEEDLE WHAT
assert_not_contains() {
    [[ $1 != *"$2"* ]] || fail "$3: must not contain '$2', got: $(printf '%s' "$1" | head -c 600)"
}

# assert_one_line TEXT WHAT: exactly one non-empty line and no .NET stack trace.
assert_one_line() {
    local lines
    lines=$(printf '%s\n' "$1" | grep -c . || true)
    [[ $1 != *$'\n   at '* && $1 != *"Exception:"* ]] || fail "$2 contains a stack trace: $1"
    ((lines == 1)) || fail "$2: expected exactly one line, got $lines: $1"
}

# capture VAR_PREFIX COMMAND...: run COMMAND, set ${PREFIX}_out, ${PREFIX}_err, ${PREFIX}_rc.
# Never fails by itself.
capture() {
    local prefix=$1; shift
    local out err rc=0
    out=$(mktemp) err=$(mktemp)
    echo "+ $*"
    "$@" > "$out" 2> "$err" || rc=$?
    printf -v "${prefix}_out" '%s' "$(<"$out")"
    printf -v "${prefix}_err" '%s' "$(<"$err")"
    printf -v "${prefix}_rc" '%s' "$rc"
    sed 's/^/  out| /' "$out"
    sed 's/^/  err| /' "$err"
    echo "  exit status $rc"
    rm -f "$out" "$err"
}

# --- the project's test target -----------------------------------------------------------------

TARGET_PID=
# start_test_target [DIR [MORE-ARGS...]]: iscsi-test-target on $PORTAL serving $IQN_DISK to $IQN_CLIENT
# (RAID-5 3+1 of $DISK_SIZE_MIB MiB files in DIR, default /tmp/raid; MORE-ARGS such as --luns 2 go to the
# target); returns once it prints its listening line.
# shellcheck disable=SC2120  # DIR is optional
start_test_target() {
    local dir=${1:-/tmp/raid}
    shift || true
    command -v iscsi-test-target > /dev/null || fail "iscsi-test-target is not on PATH (LAB_BIN=${LAB_BIN:-})"
    mkdir -p "$dir"
    local args=(--portal "$PORTAL" --target "$IQN_DISK" --acl "$IQN_CLIENT"
                --raid5 3+1 --disk-size "${DISK_SIZE_MIB}M" --dir "$dir" "$@")
    echo "+ iscsi-test-target ${args[*]} &"
    iscsi-test-target "${args[@]}" > /tmp/target.out 2> /tmp/target.log &
    TARGET_PID=$!
    at_exit stop_test_target
    local deadline=$((SECONDS + 60))
    until grep -q '^listening on ' /tmp/target.out 2> /dev/null; do
        if ! kill -0 "$TARGET_PID" 2> /dev/null; then
            cat /tmp/target.out /tmp/target.log
            fail "iscsi-test-target exited before listening"
        fi
        ((SECONDS < deadline)) || fail "iscsi-test-target printed no listening line within 60s"
        sleep 0.2
    done
    note "target: $(head -n1 /tmp/target.out)"
}

stop_test_target() {
    [[ -n $TARGET_PID ]] || return 0
    kill "$TARGET_PID" 2> /dev/null && wait "$TARGET_PID" 2> /dev/null
    TARGET_PID=
    cp /tmp/target.log "$LAB_RESULTS/target.log" 2> /dev/null
    echo "--- iscsi-test-target log (last 30 lines; whole log in results/target.log)"
    tail -n 30 /tmp/target.log 2> /dev/null
}

# --- systemd boots (LAB_INIT=systemd) ---------------------------------------------------------
# The setup phase (LAB_PHASE=setup) runs before systemd, with the overlay's /etc writable: it writes
# units with these helpers. systemd-boot.sh then masks everything else; the check phase
# (LAB_PHASE=check) runs from lab-check.service once multi-user.target and remote-fs.target are
# reached, and the VM powers off cleanly after it.

# unit_file NAME: the unit file /etc/systemd/system/NAME, from stdin.
unit_file() {
    mkdir -p /etc/systemd/system
    cat > "/etc/systemd/system/$1"
    echo "--- /etc/systemd/system/$1:"
    sed 's/^/  | /' "/etc/systemd/system/$1"
}

# unit_dropin UNIT NAME: the drop-in /etc/systemd/system/UNIT.d/NAME.conf, from stdin.
unit_dropin() {
    mkdir -p "/etc/systemd/system/$1.d"
    cat > "/etc/systemd/system/$1.d/$2.conf"
    echo "--- /etc/systemd/system/$1.d/$2.conf:"
    sed 's/^/  | /' "/etc/systemd/system/$1.d/$2.conf"
}

# enable_unit NAME...: `systemctl enable` (offline: systemd is not running yet), as a package's
# post-install script or an administrator would, following the units' [Install] sections.
enable_unit() {
    run systemctl enable "$@"
}

# keep_units NAME...: units from the host image that systemd-boot.sh must not mask.
keep_units() {
    mkdir -p /etc/lab
    printf '%s\n' "$@" >> /etc/lab/keep-units
}

# --- open-iscsi --------------------------------------------------------------------------------

# start_iscsid INITIATOR_IQN: open-iscsi's daemon with that initiator name, ready for iscsiadm; at exit
# every node is logged out and iscsid stopped.
start_iscsid() {
    mkdir -p /run/lock/iscsi /var/lib/iscsi /etc/iscsi
    echo "InitiatorName=$1" > /etc/iscsi/initiatorname.iscsi
    run iscsid
    at_exit 'iscsiadm -m node --logoutall=all > /dev/null 2>&1; pkill -x iscsid'
    wait_for 20 "iscsid's control socket" grep -q '@ISCSIADM_ABSTRACT_NAMESPACE' /proc/net/unix
}

# --- iscsi-up ----------------------------------------------------------------------------------

# iscsi_up_login_device TARGET_IQN INITIATOR_IQN: log in with --nbd-device auto, print the device.
# Asserts the "Device: /dev/nbdX" line and that the kernel device is connected.
iscsi_up_login_device() {
    local login_out login_err login_rc device
    capture login iscsi-up login -T "$1" -p 127.0.0.1 -I "$2" --nbd-device auto
    ((login_rc == 0)) || fail "iscsi-up login --nbd-device auto exited with $login_rc: $login_err"
    device=$(sed -n 's/^Device: \(\/dev\/nbd[0-9]*\)$/\1/p' <<< "$login_out")
    [[ -n $device ]] || fail "iscsi-up login printed no 'Device: /dev/nbdX' line: $login_out"
    [[ -b $device ]] || fail "$device is not a block device"
    [[ -e /sys/block/${device#/dev/}/pid ]] || fail "$device is not connected (no /sys/block/${device#/dev/}/pid)"
    LOGIN_DEVICE=$device
}

# disk_links DEVICE: the /dev/disk/by-path and by-id (wwn-, scsi-) names udev gives DEVICE, one per line, sorted.
disk_links() {
    udevadm info -q symlink "$1" | tr ' ' '\n' | grep -E '^disk/(by-path/|by-id/(wwn|scsi)-)' | sort || true
}

# --- filesystem --------------------------------------------------------------------------------

# mount_by_uuid DEVICE MOUNTPOINT [OPTIONS]: mount DEVICE by its filesystem UUID (blkid -p), as the
# tutorial's fstab line would. Without udev /dev/disk/by-uuid is absent: then check that libblkid
# (findfs, blkid -t) resolves the UUID to DEVICE and let mount resolve UUID= itself.
# When server and client share this VM (LIO over md) the UUID is also on the server's device:
# then DEVICE must be among the devices carrying it, and DEVICE is mounted by name.
mount_by_uuid() {
    local device=$1 dir=$2 opts=${3:-defaults} uuid carriers source
    uuid=$(blkid -p -s UUID -o value "$device") || fail "blkid -p found no UUID on $device"
    [[ -n $uuid ]] || fail "blkid -p reported an empty UUID on $device"
    note "UUID of $device: $uuid"
    if [[ -e /dev/disk/by-uuid/$uuid ]]; then
        note "/dev/disk/by-uuid/$uuid -> $(readlink -f "/dev/disk/by-uuid/$uuid")"
    else
        note "/dev/disk/by-uuid is absent (no udev in the guest): resolving UUID=$uuid with libblkid"
        echo "$LAB_SCENARIO: /dev/disk/by-uuid absent, UUID resolved by libblkid for $device" >> "$LAB_RESULTS/notes.txt"
    fi
    carriers=$(blkid -c /dev/null -t "UUID=$uuid" -o device | sort -u)
    grep -qx "$device" <<< "$carriers" || fail "libblkid does not find UUID=$uuid on $device (found: ${carriers:-nothing})"
    mkdir -p "$dir"
    if [[ $(wc -l <<< "$carriers") == 1 ]]; then
        [[ $(findfs "UUID=$uuid") == "$device" ]] || fail "findfs UUID=$uuid does not give $device"
        run mount -o "$opts" "UUID=$uuid" "$dir"
    else
        note "UUID=$uuid is on $(tr '\n' ' ' <<< "$carriers")(server and client share this VM): mounting $device by name"
        run mount -o "$opts" "$device" "$dir"
    fi
    source=$(findmnt -n -o SOURCE --target "$dir")
    [[ $(readlink -f "$source") == $(readlink -f "$device") ]] || fail "UUID=$uuid mounted $source on $dir, expected $device"
}

# write_payload DIR: a 5 MiB random file; its sha256 goes to /tmp/payload.sha256.
write_payload() {
    head -c 5M /dev/urandom > "$1/payload.bin"
    sync
    (cd "$1" && sha256sum payload.bin) > /tmp/payload.sha256
    note "wrote $1/payload.bin: $(cut -d' ' -f1 /tmp/payload.sha256)"
}

# check_payload DIR: the file in DIR has the sha256 recorded by write_payload.
check_payload() {
    local got want
    want=$(cut -d' ' -f1 /tmp/payload.sha256)
    [[ -f $1/payload.bin ]] || fail "$1/payload.bin is missing"
    got=$(sha256sum "$1/payload.bin" | cut -d' ' -f1)
    [[ $got == "$want" ]] || fail "$1/payload.bin: sha256 $got, expected $want"
    note "read back $1/payload.bin: sha256 matches"
}

# drop_caches DEVICE: make the next reads come from the device, not the page cache.
drop_caches() {
    sync
    blockdev --flushbufs "$1" 2> /dev/null || true
    echo 3 > /proc/sys/vm/drop_caches
}

# write_and_verify DEVICE MOUNTPOINT: mkfs.xfs, mount by UUID, write the payload, remount,
# read it back, unmount.
write_and_verify() {
    local device=$1 dir=$2
    step "mkfs.xfs on $device"
    run mkfs.xfs -q "$device"
    step "mount by UUID, write 5 MiB, read it back after a remount"
    mount_by_uuid "$device" "$dir"
    write_payload "$dir"
    run umount "$dir"
    drop_caches "$device"
    mount_by_uuid "$device" "$dir"
    check_payload "$dir"
    run umount "$dir"
}

# --- a checksummed writer (the filesystem under load while its daemon or target goes away) -----

WRITER=
# start_writer DIR: in the background, 256 KiB random files DIR/fN written with conv=fsync until
# stop_writer; each file's sha256 goes to /tmp/writer.manifest, each failure to /tmp/writer.err.
start_writer() {
    rm -f /tmp/writer.stop /tmp/writer.err /tmp/writer.manifest /tmp/writer.count
    touch /tmp/writer.err
    mkdir -p "$1"
    _writer "$1" &
    WRITER=$!
}

_writer() {
    local i=0
    while [[ ! -e /tmp/writer.stop ]]; do
        i=$((i + 1))
        head -c 256K /dev/urandom > /tmp/chunk
        if dd if=/tmp/chunk of="$1/f$i" bs=256K conv=fsync status=none 2>> /tmp/writer.err; then
            echo "$(sha256sum < /tmp/chunk | cut -d' ' -f1)  f$i" >> /tmp/writer.manifest
        else
            echo "write of f$i failed at $(date +%T)" >> /tmp/writer.err
        fi
        echo "$i" > /tmp/writer.count
    done
}

# written: how many files the writer has finished (written or failed).
written() { cat /tmp/writer.count 2> /dev/null || echo 0; }

# writer_progress N SECONDS WHAT: the writer finishes N more files within SECONDS.
writer_progress() {
    local from deadline=$((SECONDS + $2)) t=$SECONDS
    from=$(written)
    until (($(written) >= from + $1)); do
        if ((SECONDS >= deadline)) || ! kill -0 "$WRITER" 2> /dev/null; then
            note "writer: $(written) files; errors: $(head -n 5 /tmp/writer.err | tr '\n' '|')"
            fail "the writer did not finish $1 more files $3 within $2 s"
        fi
        sleep 0.5
    done
    note "writer: $(written) files, $3 ($1 more in $((SECONDS - t)) s)"
}

# stop_writer DIR DEVICE: stop the writer; it saw no error, and every file reads back from DEVICE
# (caches dropped) with its checksum.
stop_writer() {
    touch /tmp/writer.stop
    wait "$WRITER" || fail "the writer exited with $?"
    [[ ! -s /tmp/writer.err ]] || fail "the writer saw errors: $(head -n 5 /tmp/writer.err)"
    drop_caches "$2"
    (cd "$1" && sha256sum --quiet -c /tmp/writer.manifest) || fail "files in $1 differ from what the writer wrote"
    note "$(wc -l < /tmp/writer.manifest) files read back with their checksums"
}

# assert_no_io_errors DEVICE WHAT: since the scenario started, dmesg has no I/O error for DEVICE and
# its XFS reported no error and did not shut down.
assert_no_io_errors() {
    local log dev=${1#/dev/}
    log=$(dmesg | tail -n +"$((lab_dmesg_lines + 1))")
    printf '%s\n' "$log" | grep -E "nbd|XFS" | tail -n 40 | sed 's/^/  dmesg| /'
    ! grep -qE "I/O error, dev $dev|Buffer I/O error on dev $dev" <<< "$log" || fail "dmesg has I/O errors for $1 ($2)"
    ! grep -qiE "XFS \($dev\).*(shutting down|shut down|metadata I/O error|log I/O error|Corruption)" <<< "$log" || fail "XFS on $1 reported an error or shut down ($2)"
}
