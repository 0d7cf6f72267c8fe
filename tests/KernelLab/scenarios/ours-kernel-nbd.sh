#!/usr/bin/env bash
# ours-kernel-nbd: the project end to end on a real kernel. iscsi-test-target serves a RAID-5
# 3+1 array; iscsi-up discovers it, logs in and attaches the LUN as /dev/nbdX (kernel nbd over
# generic netlink); the tutorial's client side runs on it (mkfs.xfs, blkid UUID, mount by UUID,
# write, read back); after logout a second login serving NBD on TCP proves with nbdcopy that
# the bytes really are in the array.
# lab-needs: iscsi-up iscsi-test-target
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

step "start iscsi-test-target"
start_test_target

step "discover"
capture discover iscsi-up discover -p 127.0.0.1
((discover_rc == 0)) || fail "iscsi-up discover exited with $discover_rc: $discover_err"
assert_contains "$discover_out" "127.0.0.1:3260,1 $IQN_DISK" "iscsi-up discover output"

step "log in and attach to a kernel nbd device"
note "nbd module before login: $(grep -w '^nbd' /proc/modules || echo 'not loaded (iscsi-up is expected to modprobe it)')"
iscsi_up_login_device "$IQN_DISK" "$IQN_CLIENT"
device=$LOGIN_DEVICE
nbd=${device#/dev/}
size=$(blockdev --getsize64 "$device")
# RAID-5 with 3 active members: 2 members' worth of data.
expected=$((2 * DISK_SIZE_MIB * 1024 * 1024))
((size == expected)) || fail "$device has $size bytes, expected 2 x $DISK_SIZE_MIB MiB = $expected (RAID-5 3+1)"
note "$device: $size bytes, served by pid $(cat "/sys/block/$nbd/pid")"

step "the kernel sends requests as large as the LUN takes (not the nbd driver's 128 KiB)"
block_size=$(blockdev --getss "$device")
lun_limit_kb=$((8192 * block_size / 1024))  # iscsi-test-target's Block Limits: 8192 blocks per command
hw_kb=$(cat "/sys/block/$nbd/queue/max_hw_sectors_kb")
max_kb=$(cat "/sys/block/$nbd/queue/max_sectors_kb")
want_kb=$((hw_kb < lun_limit_kb ? hw_kb : lun_limit_kb))
((max_kb == want_kb)) || fail "$device: max_sectors_kb is $max_kb, expected $want_kb (LUN limit $lun_limit_kb KiB, queue limit $hw_kb KiB)"
note "$device: max_sectors_kb $max_kb (max_hw_sectors_kb $hw_kb)"

step "iscsi-up session lists the session with its device"
capture session iscsi-up session
((session_rc == 0)) || fail "iscsi-up session exited with $session_rc: $session_err"
assert_contains "$session_out" "$IQN_DISK" "iscsi-up session output"
assert_contains "$session_out" "$device" "iscsi-up session output"

write_and_verify "$device" /mnt/iscsi

step "log out"
capture logout iscsi-up logout --all
((logout_rc == 0)) || fail "iscsi-up logout --all exited with $logout_rc: $logout_err"
wait_for 15 "$device to be disconnected after logout" test ! -e "/sys/block/$nbd/pid"
capture session iscsi-up session
assert_not_contains "$session_out" "$IQN_DISK" "iscsi-up session after logout"

step "log in again serving NBD on 127.0.0.1:10809, copy the whole LUN with nbdcopy"
capture listen iscsi-up login -T "$IQN_DISK" -p 127.0.0.1 -I "$IQN_CLIENT" --nbd-listen 127.0.0.1:10809
((listen_rc == 0)) || fail "iscsi-up login --nbd-listen exited with $listen_rc: $listen_err"
run nbdcopy nbd://127.0.0.1:10809/ /tmp/img
img_size=$(stat -c %s /tmp/img)
((img_size == size)) || fail "nbdcopy copied $img_size bytes, expected $size"

step "the copy holds the filesystem and the file written through /dev/nbdX"
mkdir -p /mnt2
run mount -o loop,ro /tmp/img /mnt2
check_payload /mnt2
run umount /mnt2

step "log out"
capture logout iscsi-up logout --all
((logout_rc == 0)) || fail "iscsi-up logout --all exited with $logout_rc: $logout_err"
