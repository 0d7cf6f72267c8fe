#!/usr/bin/env bash
# openiscsi-vs-ours: the Linux kernel's own initiator (open-iscsi: iscsid + iscsi_tcp) against
# the project's iscsi-test-target, following the tutorial's client side: iscsiadm discovery,
# node login, a new /dev/sdX, mkfs.xfs, mount by UUID, write, read back, logout. Proves that a
# real kernel initiator accepts our target (login negotiation, SCSI commands, R2T/Data-Out).
# lab-needs: iscsi-test-target
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

step "start iscsi-test-target"
start_test_target

step "open-iscsi: initiator name $IQN_CLIENT, start iscsid"
start_iscsid "$IQN_CLIENT"

step "discovery: iscsiadm -m discovery -t st -p 127.0.0.1"
capture discovery iscsiadm -m discovery -t st -p 127.0.0.1
((discovery_rc == 0)) || fail "iscsiadm discovery exited with $discovery_rc: $discovery_err"
assert_contains "$discovery_out" "127.0.0.1:3260,1 $IQN_DISK" "iscsiadm discovery output"

step "login: iscsiadm -m node -T $IQN_DISK -p 127.0.0.1 --login"
disks_before=$(ls /sys/class/scsi_disk)
capture login iscsiadm -m node -T "$IQN_DISK" -p 127.0.0.1 --login
((login_rc == 0)) || fail "iscsiadm login exited with $login_rc: $login_err"
assert_contains "$login_out" "successful" "iscsiadm login output"

# The new disk: the block device under the one scsi_disk that was not there before.
new_disk() {
    local d b
    for d in /sys/class/scsi_disk/*; do
        [[ -e $d ]] || continue
        grep -qx "$(basename "$d")" <<< "$disks_before" && continue
        for b in "$d"/device/block/*; do
            [[ -e $b ]] && basename "$b"
        done
    done
    return 0
}
wait_for 60 "the new SCSI disk to appear" test -n "$(new_disk)"
device=/dev/$(new_disk)
wait_for 30 "$device to be created" test -b "$device"
vendor=$(cat "/sys/block/${device#/dev/}/device/vendor")
model=$(cat "/sys/block/${device#/dev/}/device/model")
size=$(blockdev --getsize64 "$device")
note "$device: '$vendor' '$model', $size bytes"
expected=$((2 * DISK_SIZE_MIB * 1024 * 1024))
((size == expected)) || fail "$device has $size bytes, expected 2 x $DISK_SIZE_MIB MiB = $expected (RAID-5 3+1)"
iscsiadm -m session -P 3 | grep -E 'Target:|Current Portal|iSCSI Session State|Attached scsi disk|HeaderDigest|DataDigest|MaxRecvDataSegmentLength|FirstBurstLength|MaxBurstLength|ImmediateData|InitialR2T' || true

write_and_verify "$device" /mnt/iscsi

step "logout: iscsiadm -m node -T $IQN_DISK -p 127.0.0.1 --logout"
capture logout iscsiadm -m node -T "$IQN_DISK" -p 127.0.0.1 --logout
((logout_rc == 0)) || fail "iscsiadm logout exited with $logout_rc: $logout_err"
assert_contains "$logout_out" "successful" "iscsiadm logout output"
wait_for 30 "$device to go away after logout" test ! -e "/sys/block/${device#/dev/}"
capture sessions iscsiadm -m session
((sessions_rc == 21)) || fail "iscsiadm -m session after logout: expected 'No active sessions' (21), got $sessions_rc: $sessions_out$sessions_err"
grep -q 'ended: logout' /tmp/target.log || fail "the target did not log a clean logout: $(tail -n 3 /tmp/target.log)"
