#!/usr/bin/env bash
# mount-manager: `iscsi-up mount` / `umount` / `logout` as an administrator uses them, on a real
# kernel, against an fstab that looks like a real one (comments, tabs, swap, LABEL=, an \040
# escaped path, no newline at the end), kept at a test path (--fstab /tmp/fstab).
#   - failed mounts (mount point is a non-empty directory, or a file) leave fstab byte for byte
#     unchanged, leave the blank disk unformatted, and say what is wrong in one line;
#   - a fresh array is formatted (xfs), mounted, and exactly one
#     `UUID=... /iscsi xfs defaults,_netdev 0 0` line is appended; every other byte is unchanged
#     (the seed's last line gains the newline it lacked);
#   - logout refuses while the device is mounted (one line naming the mount point);
#   - umount, logout, mount again: not reformatted (same UUID, "Kept the existing"), data intact,
#     still one fstab line;
#   - a device that holds a filesystem is never reformatted, even with -t ext4 (refused clearly,
#     data and fstab untouched);
#   - umount --remove-fstab removes only our line: fstab equals the seed again.
# lab-needs: iscsi-up iscsi-test-target
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

FSTAB=/tmp/fstab
SEED=/tmp/fstab.seed
EXPECTED=/tmp/fstab.expected

# A Debian installer's fstab plus the usual additions. Tabs and spaces mixed on purpose; the last
# line has no newline.
printf '%s\n' \
    '# /etc/fstab: static file system information.' \
    '#' \
    "# Use 'blkid' to print the universally unique identifier for a" \
    '# device; this may be used with UUID= as a more robust way to name devices' \
    '# that works even if disks are added and removed. See fstab(5).' \
    '#' \
    '# systemd generates mount units based on this file, see systemd.mount(5).' \
    '#' \
    '# <file system>	<mount point>	<type>	<options>	<dump>	<pass>' \
    'UUID=0a3407de-014b-458b-b5c1-848e92a327a3	/	ext4	errors=remount-ro	0	1' \
    '# /boot was on /dev/sda1 during installation' \
    'UUID=5d9b5e2a-4b0c-4d3e-9d5f-1f2e3d4c5b6a /boot           ext4    defaults        0       2' \
    '/dev/mapper/vg0-swap	none	swap	sw	0	0' \
    '' \
    'LABEL=DATA	/srv/data	xfs	defaults,noatime	0	2' \
    '/dev/sdb1  /mnt/My\040Photos  ext4  defaults,nofail,x-systemd.device-timeout=5s  0  2' \
    'tmpfs /var/tmp tmpfs defaults,size=64m,mode=1777 0 0   # trailing comment' > "$SEED"
printf '%s' '/dev/sr0        /media/cdrom0   udf,iso9660 user,noauto     0       0' >> "$SEED"
chmod 0644 "$SEED"
cp -p "$SEED" "$FSTAB"

# fstab_is FILE WHAT: /tmp/fstab must equal FILE byte for byte (fail_later with the diff otherwise).
fstab_is() {
    if cmp -s "$1" "$FSTAB"; then
        note "$2: $FSTAB is byte for byte as expected ($(basename "$1"))"
        return 0
    fi
    local diff
    diff=$(diff <(od -c "$1") <(od -c "$FSTAB") | head -n 12 | tr '\n' '|' || true)
    fail_later "$2: $FSTAB differs from $(basename "$1") (od -c diff: $diff)"
    cp "$FSTAB" "$LAB_RESULTS/fstab.after-${3:-step}" 2> /dev/null
    return 0
}

# iscsi_up_mount PREFIX ARGS...: iscsi-up mount against the test target and the test fstab.
iscsi_up_mount() {
    local prefix=$1; shift
    capture "$prefix" iscsi-up mount -T "$IQN_DISK" -p 127.0.0.1 -I "$IQN_CLIENT" --fstab "$FSTAB" "$@"
}

# session_device: the /dev/nbdX of our session, from `iscsi-up session`.
session_device() {
    iscsi-up session 2> /dev/null | grep -F "$IQN_DISK" | grep -o '/dev/nbd[0-9]*' | head -n1 || true
}

# our_lines: how many lines of the test fstab name our filesystem.
our_lines() { grep -c "^UUID=$uuid " "$FSTAB" || true; }

is_blank() { ! blkid -p "$1" > /dev/null 2>&1; }

# refused PREFIX WHAT NEEDLE...: the command captured as PREFIX failed with one line naming NEEDLEs.
refused() {
    local prefix=$1 what=$2 rc_var err_var needle; shift 2
    rc_var=${prefix}_rc err_var=${prefix}_err
    ((${!rc_var} != 0)) || fail "$what succeeded"
    assert_one_line "${!err_var}" "stderr of $what"
    for needle in "$@"; do assert_contains "${!err_var}" "$needle" "stderr of $what"; done
    note "$what: exit ${!rc_var}: ${!err_var}"
}

step "start iscsi-test-target (fresh array)"
start_test_target

step "failed mounts on the blank array: fstab unchanged, disk not formatted"
mkdir -p /srv/busy
echo keep > /srv/busy/keep.txt
iscsi_up_mount busy -m /srv/busy
refused busy "mount on a non-empty directory" /srv/busy "not empty"
fstab_is "$SEED" "after the refused mount on a non-empty directory" busy
[[ $(cat /srv/busy/keep.txt) == keep ]] || fail "/srv/busy/keep.txt changed"
! mountpoint -q /srv/busy || fail "/srv/busy is a mount point after the refused mount"
device=$(session_device)
[[ -n $device ]] || fail "no session after 'iscsi-up mount' logged in (iscsi-up session: $(iscsi-up session 2>&1))"
note "mount logged in: $device"
is_blank "$device" || fail "$device is no longer blank after a refused mount: $(blkid -p "$device")"

echo "not a directory" > /srv/afile
iscsi_up_mount afile -m /srv/afile
refused afile "mount on a regular file" /srv/afile
fstab_is "$SEED" "after the refused mount on a file" afile
[[ $(cat /srv/afile) == "not a directory" ]] || fail "/srv/afile changed"
is_blank "$device" || fail "$device is no longer blank after a refused mount: $(blkid -p "$device")"

step "mount on the fresh array: xfs, mounted, exactly one fstab line appended"
iscsi_up_mount first -m /iscsi
((first_rc == 0)) || fail "iscsi-up mount exited with $first_rc: $first_err"
assert_contains "$first_out" "Formatted xfs" "output of the first mount"
[[ $(session_device) == "$device" ]] || fail "the session's device changed from $device to $(session_device)"
mounted=$(findmnt -n -o SOURCE,FSTYPE --mountpoint /iscsi) || fail "/iscsi is not mounted"
[[ $mounted == "$device xfs" ]] || fail "/iscsi: expected '$device xfs', findmnt says '$mounted'"
uuid=$(blkid -p -s UUID -o value "$device")
[[ -n $uuid ]] || fail "no UUID on $device"
line="UUID=$uuid /iscsi xfs defaults,_netdev 0 0"
note "expected fstab line: $line"
# Appending to a file without a final newline: the seed's last line gets one, our line follows,
# with a newline of its own or (keeping the file's convention) without one. Either way no other
# byte changes; from here on the file must stay exactly as the first mount left it.
{ cat "$SEED"; printf '\n%s' "$line"; } > "$EXPECTED"
if cmp -s <(cat "$EXPECTED"; echo) "$FSTAB"; then
    printf '\n' >> "$EXPECTED"
    note "our line was appended with a final newline (the seed had none)"
else
    note "our line was appended without a final newline, as the seed had none"
fi
fstab_is "$EXPECTED" "after the first mount (seed, a newline ending its last line, our line)" first
(($(our_lines) == 1)) || fail_later "expected exactly one line for UUID=$uuid in $FSTAB, found $(our_lines)"
[[ $(stat -c %a "$FSTAB") == 644 ]] || fail_later "$FSTAB mode changed to $(stat -c %a "$FSTAB")"
node=$(grep -l "^node.target=$IQN_DISK\$" "$ISCSI_UP_CONFIG_DIR"/nodes/*.node 2> /dev/null | head -n1)
[[ -n $node ]] || fail "no node record for $IQN_DISK in $ISCSI_UP_CONFIG_DIR/nodes"
grep -qx 'node.startup=automatic' "$node" || fail "$node is not node.startup=automatic: $(tr '\n' ' ' < "$node")"
grep -qx 'node.mountpoint=/iscsi' "$node" || fail "$node does not record node.mountpoint=/iscsi: $(tr '\n' ' ' < "$node")"
note "node record $node: $(tr '\n' ' ' < "$node")"
findmnt --verify --tab-file "$FSTAB" 2>&1 | sed 's/^/  findmnt --verify| /' || true

step "write a file"
write_payload /iscsi

step "logout refuses while the device is mounted"
capture lo_all iscsi-up logout --all
refused lo_all "logout --all while mounted" /iscsi
capture lo_one iscsi-up logout -T "$IQN_DISK" -p 127.0.0.1
refused lo_one "logout -T while mounted" /iscsi
mountpoint -q /iscsi || fail "/iscsi is no longer mounted after the refused logout"
[[ -e /sys/block/${device#/dev/}/pid ]] || fail "$device was disconnected by the refused logout"
check_payload /iscsi

step "umount, logout"
capture um iscsi-up umount -m /iscsi --fstab "$FSTAB"
((um_rc == 0)) || fail "iscsi-up umount exited with $um_rc: $um_err"
! mountpoint -q /iscsi || fail "/iscsi is still mounted after iscsi-up umount"
fstab_is "$EXPECTED" "after umount without --remove-fstab" umount
capture lo iscsi-up logout --all
((lo_rc == 0)) || fail "iscsi-up logout --all exited with $lo_rc: $lo_err"
wait_for 15 "$device to be disconnected after logout" test ! -e "/sys/block/${device#/dev/}/pid"

step "mount again: logs in, keeps the filesystem (same UUID), data intact, still one fstab line"
iscsi_up_mount second -m /iscsi
((second_rc == 0)) || fail "the second iscsi-up mount exited with $second_rc: $second_err"
assert_contains "$second_out" "Kept the existing xfs filesystem UUID=$uuid" "output of the second mount"
assert_not_contains "$second_out" "Formatted" "output of the second mount"
device=$(session_device)
[[ $(blkid -p -s UUID -o value "$device") == "$uuid" ]] || fail "the UUID on $device changed: $(blkid -p "$device")"
check_payload /iscsi
fstab_is "$EXPECTED" "after the second mount" second
(($(our_lines) == 1)) || fail_later "expected exactly one line for UUID=$uuid in $FSTAB after the second mount, found $(our_lines)"

step "-t ext4 on a device that holds xfs: refused, nothing touched"
iscsi_up_mount ext4_mounted -m /iscsi -t ext4
refused ext4_mounted "mount -t ext4 while the xfs is mounted" xfs
mountpoint -q /iscsi || fail "/iscsi is no longer mounted after the refused mount -t ext4"
capture um iscsi-up umount -m /iscsi --fstab "$FSTAB"
((um_rc == 0)) || fail "iscsi-up umount exited with $um_rc: $um_err"
iscsi_up_mount ext4_here -m /iscsi -t ext4
refused ext4_here "mount -t ext4 on the unmounted xfs" xfs
iscsi_up_mount ext4_there -m /iscsi2 -t ext4
refused ext4_there "mount -t ext4 -m /iscsi2 on the unmounted xfs" xfs
[[ $(blkid -p -s TYPE -o value "$device"):$(blkid -p -s UUID -o value "$device") == "xfs:$uuid" ]] \
    || fail "$device changed after the refused mounts: $(blkid -p "$device")"
! mountpoint -q /iscsi || fail "/iscsi got mounted by a refused mount"
[[ ! -e /iscsi2 ]] || note "/iscsi2 exists after the refused mount (created: $(ls -ld /iscsi2))"
fstab_is "$EXPECTED" "after the refused mounts -t ext4" ext4

step "a failed mount of the existing filesystem elsewhere leaves fstab alone"
iscsi_up_mount busy2 -m /srv/busy
refused busy2 "mount of the existing filesystem on a non-empty directory" /srv/busy
fstab_is "$EXPECTED" "after the refused mount on /srv/busy" busy2
[[ $(cat /srv/busy/keep.txt) == keep ]] || fail "/srv/busy/keep.txt changed"

step "mount once more, the data is intact"
iscsi_up_mount third -m /iscsi
((third_rc == 0)) || fail "the third iscsi-up mount exited with $third_rc: $third_err"
assert_contains "$third_out" "Kept the existing xfs filesystem UUID=$uuid" "output of the third mount"
drop_caches "$device"
check_payload /iscsi
fstab_is "$EXPECTED" "after the third mount" third

step "umount --remove-fstab removes only our line"
capture um iscsi-up umount -m /iscsi --remove-fstab --fstab "$FSTAB"
((um_rc == 0)) || fail "iscsi-up umount --remove-fstab exited with $um_rc: $um_err"
! mountpoint -q /iscsi || fail "/iscsi is still mounted after iscsi-up umount --remove-fstab"
(($(our_lines) == 0)) || fail "our line is still in $FSTAB after --remove-fstab"
cp "$FSTAB" /tmp/fstab.removed
iscsi_up_mount busy3 -m /srv/busy
refused busy3 "mount on a non-empty directory (no fstab line)" /srv/busy "not empty"
cmp -s /tmp/fstab.removed "$FSTAB" || fail_later "the refused mount after --remove-fstab changed $FSTAB"
capture lo iscsi-up logout --all
((lo_rc == 0)) || fail "iscsi-up logout --all exited with $lo_rc: $lo_err"
ls -l "$(dirname "$FSTAB")"/fstab* | sed 's/^/  /'
if ! cmp -s "$SEED" "$FSTAB"; then
    if cmp -s <(cat "$SEED"; echo) "$FSTAB"; then
        fail_later "after umount --remove-fstab $FSTAB is not the seed: the only difference is a newline added after the seed's last line ('/dev/sr0 ... 0       0'), which had none"
    else
        fstab_is "$SEED" "after umount --remove-fstab" removed
    fi
else
    note "$FSTAB equals the seed again"
fi
