#!/usr/bin/env bash
# lun-changes: the target changes its LUNs while we are logged in, and the kernel devices follow. systemd is
# PID 1 with the product's units and udev rule (as in several-luns); the bundled target serves LUN 0 (the
# RAID-5 array, 320 MiB) and LUN 1 (a plain 160 MiB volume) and takes `add`, `resize`, `remove` on its control
# socket, raising the unit attentions a real array raises. The initiator hears of a change with the next
# command to the LUN (`poke`: one direct read), as with any target. Then:
#   - `iscsi-up login --nbd-device auto` gives two /dev/nbdX; XFS on LUN 0 (a file written), ext4 on LUN 1;
#   - `add 2 320M`: a new /dev/nbdY appears, `session` lists it, udev gives it its by-path ...-lun-2 name;
#   - XFS on LUN 2, a file written; `resize 2 480M` (the array cannot grow, a plain LUN can): /dev/nbdY's size
#     (blockdev, /sys/block/nbdY/size) follows within seconds, `xfs_growfs` grows the mounted filesystem (df),
#     the file is intact, no I/O error;
#   - `remove 1` with LUN 1 mounted: a write there fails with an error (no hang), the journal names the mount,
#     the other two filesystems are undisturbed (write and read back, no I/O error for their devices);
#   - nothing mounted, so no command brings the news: `iscsi-up rescan` finds a LUN added meanwhile, then says
#     "No change", and an unknown target is exit code 2 (README's rescan section).
# lab-needs: iscsi-up iscsi-test-target
# lab-boots: a:systemd:600
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

# The daemon runs from the units and the udev rule reads its records: both use the real places.
export ISCSI_UP_CONFIG_DIR=/etc/iscsi-up ISCSI_UP_RUN_DIR=/run/iscsi-up
readonly CONTROL=/tmp/target.ctl MNT0=/iscsi MNT1=/lun1 MNT2=/grow
readonly MIB=$((1 << 20))

setup() {
    step "units and udev rule from packaging/ (ExecStart and the rule's program: $LAB_BIN/iscsi-up)"
    local unit
    for unit in iscsi-upd.socket iscsi-upd.service iscsi-up.service; do
        sed "s|^ExecStart=/usr/bin/iscsi-up |ExecStart=$LAB_BIN/iscsi-up |" "$LAB_REPO/packaging/systemd/$unit" | unit_file "$unit"
    done
    enable_unit iscsi-upd.socket
    mkdir -p /etc/udev/rules.d
    sed "s|/usr/bin/iscsi-up |$LAB_BIN/iscsi-up |g" "$LAB_REPO/packaging/udev/59-iscsi-up.rules" > /etc/udev/rules.d/59-iscsi-up.rules
    grep -q "$LAB_BIN/iscsi-up udev-id" /etc/udev/rules.d/59-iscsi-up.rules || fail "the udev rule does not run $LAB_BIN/iscsi-up"
}

# control COMMAND...: a command on the target's control socket; its answer must start with "ok".
control() {
    local answer
    echo "+ iscsi-test-target control $CONTROL $*"
    answer=$(iscsi-test-target control "$CONTROL" "$@") || fail "control $*: $answer"
    echo "  $answer"
    [[ $answer == ok* ]] || fail "control $*: $answer"
}

# poke DEVICE: one direct read, the next command that brings the target's unit attention.
poke() { dd if="$1" of=/dev/null bs=4k count=1 iflag=direct status=none 2> /dev/null || true; }

journal() { journalctl -b -u iscsi-upd.service -o cat --no-pager; }

# session_device LUN: the device `iscsi-up session` lists for LUN of the target (empty when none).
session_device() { iscsi-up session 2> /dev/null | sed -n "s|^.*$IQN_DISK lun $1 \(/dev/nbd[0-9]*\) .*\$|\1|p"; }

by_path() { echo "/dev/disk/by-path/ip-$PORTAL-iscsi-$IQN_DISK-lun-$1"; }

# size_is DEVICE BYTES: the block device and its sysfs size both say BYTES.
size_is() {
    [[ $(blockdev --getsize64 "$1") == "$2" && $(cat "/sys/block/${1#/dev/}/size") == $(($2 / 512)) ]]
}

# write_check DIR NAME: a 1 MiB file written with fsync, read back after dropping the caches.
write_check() {
    local want
    head -c 1M /dev/urandom > /tmp/chunk
    want=$(sha256sum < /tmp/chunk)
    dd if=/tmp/chunk of="$1/$2" bs=1M conv=fsync status=none || fail "writing $1/$2 failed"
    echo 3 > /proc/sys/vm/drop_caches
    [[ $(sha256sum < "$1/$2") == "$want" ]] || fail "$1/$2 does not read back what was written"
    note "$1/$2 written and read back"
}

check() {
    [[ -d /run/systemd/system ]] || fail "systemd is not running"
    start_test_target /tmp/raid --luns 2 --control "$CONTROL"
    control list

    step "login --nbd-device auto: one kernel device per LUN"
    capture login iscsi-up login -T "$IQN_DISK" -p 127.0.0.1 -I "$IQN_CLIENT" --nbd-device auto
    ((login_rc == 0)) || fail "iscsi-up login exited with $login_rc: $login_err"
    local dev0 dev1 dev2 dev3
    dev0=$(sed -n 's/^Device: \(\/dev\/nbd[0-9]*\) (LUN 0)$/\1/p' <<< "$login_out")
    dev1=$(sed -n 's/^Device: \(\/dev\/nbd[0-9]*\) (LUN 1)$/\1/p' <<< "$login_out")
    [[ -b $dev0 && -b $dev1 && $dev0 != "$dev1" ]] || fail "expected 'Device: /dev/nbdX (LUN 0)' and '(LUN 1)' lines: $login_out"
    size_is "$dev0" $((320 * MIB)) || fail "$dev0 has $(blockdev --getsize64 "$dev0") bytes, LUN 0 has $((320 * MIB))"
    size_is "$dev1" $((DISK_SIZE_MIB * MIB)) || fail "$dev1 has $(blockdev --getsize64 "$dev1") bytes, LUN 1 has $((DISK_SIZE_MIB * MIB))"

    step "XFS on LUN 0 ($dev0, a file written), ext4 on LUN 1 ($dev1)"
    run mkfs.xfs -q "$dev0"
    mkdir -p "$MNT0" "$MNT1" "$MNT2"
    run mount "$dev0" "$MNT0"
    write_payload "$MNT0"
    run mkfs.ext4 -q "$dev1"
    run mount "$dev1" "$MNT1"
    write_check "$MNT1" before

    step "the target adds LUN 2 (320 MiB): a new kernel device appears"
    control add 2 320M
    local t=$SECONDS
    poke "$dev0"
    wait_for 30 "a device for LUN 2 in 'iscsi-up session'" bash -c "[[ -n \$(iscsi-up session 2> /dev/null | grep ' lun 2 /dev/nbd') ]]"
    dev2=$(session_device 2)
    note "LUN 2 on $dev2 after $((SECONDS - t)) s: $(iscsi-up session | grep ' lun 2 ')"
    [[ -b $dev2 && $dev2 != "$dev0" && $dev2 != "$dev1" ]] || fail "LUN 2's device '$dev2' is not a new block device"
    size_is "$dev2" $((320 * MIB)) || fail "$dev2 has $(blockdev --getsize64 "$dev2") bytes, LUN 2 has $((320 * MIB))"
    assert_contains "$(journal)" "LUN 2 was added by the target: " "the journal after the add"
    assert_contains "$(journal)" "device $dev2" "the journal after the add"
    run udevadm settle
    wait_for 20 "udev's $(by_path 2)" test -e "$(by_path 2)"
    [[ $(readlink -f "$(by_path 2)") == "$dev2" ]] || fail "$(by_path 2) leads to $(readlink -f "$(by_path 2)"), not $dev2"
    note "$(by_path 2) -> $dev2"

    step "XFS on LUN 2 (a file written); the target grows LUN 2 to 480 MiB: $dev2 follows, xfs_growfs grows it"
    run mkfs.xfs -q "$(by_path 2)"
    run mount "$(by_path 2)" "$MNT2"
    head -c 5M /dev/urandom > "$MNT2/kept.bin"
    sync
    local kept
    kept=$(sha256sum < "$MNT2/kept.bin")
    local before
    before=$(df -B1M --output=size "$MNT2" | tail -n 1 | tr -d ' ')
    control resize 2 480M
    t=$SECONDS
    poke "$dev2"
    wait_for 30 "$dev2 to have 480 MiB (blockdev --getsize64 and /sys/block/${dev2#/dev/}/size)" size_is "$dev2" $((480 * MIB))
    note "$dev2 has $(blockdev --getsize64 "$dev2") bytes after $((SECONDS - t)) s"
    assert_contains "$(journal)" "LUN 2 changed capacity from 320 MiB to 480 MiB (983040 blocks): $dev2 follows" "the journal after the resize"
    assert_contains "$(iscsi-up session)" "$IQN_DISK lun 2 $dev2 480 MiB LOGGED_IN" "iscsi-up session after the resize"
    run xfs_growfs "$MNT2"
    local after
    after=$(df -B1M --output=size "$MNT2" | tail -n 1 | tr -d ' ')
    note "df: $MNT2 was $before MiB, now $after MiB"
    ((after > before + 150)) || fail "xfs_growfs did not grow $MNT2: $before MiB before, $after MiB after"
    write_check "$MNT2" after-grow
    [[ $(sha256sum < "$MNT2/kept.bin") == "$kept" ]] || fail "$MNT2/kept.bin changed across the resize"
    assert_no_io_errors "$dev2" "after the resize"

    step "the target removes LUN 1 while it is mounted on $MNT1: its I/O fails, the others go on"
    control remove 1
    t=$SECONDS
    poke "$dev0"
    wait_for 30 "LUN 1 to leave 'iscsi-up session'" bash -c "! iscsi-up session 2> /dev/null | grep -q ' lun 1 '"
    note "LUN 1 gone from the session after $((SECONDS - t)) s"
    local rc=0
    t=$SECONDS
    timeout 120 dd if=/dev/urandom of="$MNT1/after-remove" bs=64K count=1 conv=fsync status=none || rc=$?
    ((rc != 0 && rc != 124)) || fail "a write to the removed LUN's filesystem did not fail in time (dd exit $rc)"
    note "the write on $MNT1 failed after $((SECONDS - t)) s (dd exit $rc)"
    local removed
    removed=$(journal | grep "LUN 1 was removed" || true)
    printf '%s\n' "$removed" | sed 's/^/  journal| /'
    assert_contains "$removed" "LUN 1 was removed by the target while $dev1 is mounted on $MNT1: its I/O fails (EIO)" "the journal after the remove"
    (($(grep -c . <<< "$removed") == 1)) || fail "the journal has $(grep -c . <<< "$removed") lines about LUN 1's removal, expected one"
    timeout 60 umount "$MNT1" || fail "umount $MNT1 did not succeed after LUN 1 was removed"
    [[ ! -e /sys/block/${dev1#/dev/}/pid ]] || fail "$dev1 is still connected after LUN 1 was removed"
    write_check "$MNT0" after-remove
    check_payload "$MNT0"
    write_check "$MNT2" after-remove
    assert_no_io_errors "$dev0" "after LUN 1 was removed"
    assert_no_io_errors "$dev2" "after LUN 1 was removed"

    step "nothing mounted (no command brings the news): iscsi-up rescan finds what the target changed, then 'No change'"
    run umount "$MNT2"
    check_payload "$MNT0"
    run umount "$MNT0"
    control add 3 64M
    capture rescan iscsi-up rescan
    ((rescan_rc == 0)) || fail "iscsi-up rescan exited with $rescan_rc: $rescan_err"
    assert_contains "$rescan_out" "Rescanning session [sid: " "iscsi-up rescan"
    assert_contains "$rescan_out" "target: $IQN_DISK, portal: $PORTAL,1]" "iscsi-up rescan"
    assert_contains "$rescan_out" "LUN 3 was added by the target: " "iscsi-up rescan"
    dev3=$(session_device 3)
    [[ -b $dev3 ]] || fail "no device for LUN 3 after the rescan: $(iscsi-up session 2>&1)"
    assert_contains "$rescan_out" "device $dev3" "iscsi-up rescan"
    size_is "$dev3" $((64 * MIB)) || fail "$dev3 has $(blockdev --getsize64 "$dev3") bytes, LUN 3 has $((64 * MIB))"
    capture rescan iscsi-up rescan -T "$IQN_DISK" -p "$PORTAL"
    ((rescan_rc == 0)) || fail "iscsi-up rescan -T -p exited with $rescan_rc: $rescan_err"
    [[ $(tail -n 1 <<< "$rescan_out") == "No change" ]] || fail "iscsi-up rescan with nothing changed: expected 'No change', got: $rescan_out"
    capture rescan iscsi-up rescan -T iqn.2026-11.org.iscsi-up:nobody
    ((rescan_rc == 2)) || fail "iscsi-up rescan of an unknown target exited with $rescan_rc, expected 2"
    assert_one_line "$rescan_err" "iscsi-up rescan of an unknown target"
    assert_contains "$rescan_err" "no session to iqn.2026-11.org.iscsi-up:nobody" "iscsi-up rescan of an unknown target"
    note "iscsi-up session: $(iscsi-up session | tr '\n' '|')"

    step "logout: every remaining device detached"
    run iscsi-up logout -T "$IQN_DISK" -p "$PORTAL"
    local device
    for device in "$dev0" "$dev2" "$dev3"; do
        [[ ! -e /sys/block/${device#/dev/}/pid ]] || fail "$device is still connected after logout"
    done
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:setup) setup ;;
    a:check) check ;;
    *) fail "lun-changes has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run lun-changes)" ;;
esac
