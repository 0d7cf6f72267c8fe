#!/usr/bin/env bash
# ours-vs-lio: iscsi-up against the Linux kernel's own target (LIO), set up exactly as the
# tutorial's storage server does it: RAID-5 with mdadm over four disks (here loop devices),
# exported with targetcli as block backstore disk0 with an ACL for the client's IQN. iscsi-up
# discovers, logs in, attaches /dev/nbdX, and the client side (mkfs.xfs, mount by UUID, write,
# read back) runs on it. A login with an initiator name missing from the ACL must fail with
# iscsiadm's exit code 19 and a one-line "authorization failure" message.
# lab-needs: iscsi-up
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

step "four loop devices and the RAID-5 array (mdadm -Cv /dev/md0 -n 3 -l 5 -x 1)"
mkdir -p /tmp/lio
loops=()
for i in 0 1 2 3; do
    truncate -s "${DISK_SIZE_MIB}M" "/tmp/lio/disk$i.img"
    loops+=("$(losetup -f --show "/tmp/lio/disk$i.img")")
done
note "loop devices: ${loops[*]}"
# --assume-clean: the members are all zeros, so parity is already right; skips the initial resync.
run mdadm -Cv /dev/md0 -n 3 -l 5 -x 1 --run --assume-clean "${loops[@]}"
at_exit 'mdadm --stop /dev/md0 > /dev/null 2>&1'
wait_for 30 "/dev/md0 to become active" grep -q '^md0 : active' /proc/mdstat
cat /proc/mdstat

step "targetcli: backstore disk0 on /dev/md0, target $IQN_LIO, LUN, ACL, portal 127.0.0.1:3260"
mkdir -p /run/dbus
run dbus-daemon --system --fork
tpg=/iscsi/$IQN_LIO/tpg1
run targetcli /backstores/block create disk0 /dev/md0
run targetcli /iscsi create "$IQN_LIO"
run targetcli "$tpg/luns" create /backstores/block/disk0
run targetcli "$tpg/acls" create "$IQN_CLIENT"
# targetcli creates a portal on 0.0.0.0:3260 with the target; the lab listens on loopback only.
run targetcli "$tpg/portals" delete 0.0.0.0 3260
run targetcli "$tpg/portals" create 127.0.0.1 3260
targetcli ls

step "discover"
capture discover iscsi-up discover -p 127.0.0.1 -I "$IQN_CLIENT"
((discover_rc == 0)) || fail "iscsi-up discover exited with $discover_rc: $discover_err"
assert_contains "$discover_out" "127.0.0.1:3260,1 $IQN_LIO" "iscsi-up discover output"

step "log in and attach to a kernel nbd device"
iscsi_up_login_device "$IQN_LIO" "$IQN_CLIENT"
device=$LOGIN_DEVICE
size=$(blockdev --getsize64 "$device")
md_size=$(blockdev --getsize64 /dev/md0)
((size == md_size)) || fail "$device has $size bytes, /dev/md0 has $md_size"
note "$device: $size bytes (same as /dev/md0)"

write_and_verify "$device" /mnt/iscsi

step "log out"
capture logout iscsi-up logout --all
((logout_rc == 0)) || fail "iscsi-up logout --all exited with $logout_rc: $logout_err"
wait_for 15 "$device to be disconnected after logout" test ! -e "/sys/block/${device#/dev/}/pid"

step "the bytes are on the array: a copy of /dev/md0 holds the file"
# LIO holds /dev/md0 open exclusively, so it cannot be mounted while exported; copy it instead.
run cp --sparse=always /dev/md0 /tmp/md.img
mkdir -p /mnt/md
run mount -o loop,ro /tmp/md.img /mnt/md
check_payload /mnt/md
run umount /mnt/md
rm -f /tmp/md.img

step "an initiator missing from the ACL is refused: exit 19, one line, 'authorization failure'"
capture intruder iscsi-up login -T "$IQN_LIO" -p 127.0.0.1 -I "$IQN_INTRUDER" --nbd-device auto
((intruder_rc == 19)) || fail "login as $IQN_INTRUDER exited with $intruder_rc, expected 19 (stderr: $intruder_err)"
assert_one_line "$intruder_err" "stderr of the refused login"
assert_contains "$intruder_err" "authorization failure" "stderr of the refused login"
assert_not_contains "$intruder_out$intruder_err" "Exception" "output of the refused login"
capture session iscsi-up session
assert_not_contains "$session_out" "$IQN_LIO" "iscsi-up session after the refused login"
