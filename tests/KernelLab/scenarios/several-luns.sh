#!/usr/bin/env bash
# several-luns: one login exposes every LUN of a real array as its own kernel device, with the names
# open-iscsi users know. LIO (targetcli) exports two fileio LUNs (320 MiB and 64 MiB) behind one target,
# its ACL wanting CHAP;
# systemd is PID 1 with the product's units and udev rule (ExecStart and the rule's program pointed at the
# lab binary). Then:
#   - `iscsi-up login --nbd-device auto --chap-user U --chap-secret-file F` (no node record) gives two
#     /dev/nbdX, one per LUN, with the LUNs' sizes, and `iscsi-up session` lists both;
#   - udev gives each its own /dev/disk/by-path/ip-127.0.0.1:3260-iscsi-IQN-lun-N and by-id (wwn-, scsi-)
#     names, each leading to the right device;
#   - XFS on LUN 0 made and mounted through its by-path name, different bytes written to LUN 1, which a
#     process holds open;
#   - `systemctl restart iscsi-upd`: the new daemon takes both devices over (both in use), logging in with
#     the CHAP credentials the session kept (there is no node record to read them from);
#   - logged out, open-iscsi logs in to the same LUNs: its /dev/sdX get exactly the same by-path and by-id
#     names per LUN, LUN 1 holds the bytes written through iscsi-up and LUN 0 the file.
# lab-needs: iscsi-up
# lab-boots: a:systemd:600
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

# The daemon runs from the units and the udev rule reads its records: both use the real places.
export ISCSI_UP_CONFIG_DIR=/etc/iscsi-up ISCSI_UP_RUN_DIR=/run/iscsi-up
readonly MNT=/iscsi LUN0_MIB=320 LUN1_MIB=64 CHAP_USER=lab-client CHAP_SECRET=lab-chap-secret-0123

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

daemon_pid() { systemctl show -P MainPID iscsi-upd.service; }

# links_of DEVICE LUN: DEVICE's udev names; asserts its by-path name for LUN and a wwn name, and that
# every name leads to DEVICE.
links_of() {
    local device=$1 lun=$2 links link
    links=$(disk_links "$device")
    grep -qxF "disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_LIO-lun-$lun" <<< "$links" || fail "no by-path link for LUN $lun on $device: $links"
    grep -qE '^disk/by-id/wwn-0x[0-9a-f]+$' <<< "$links" || fail "no by-id wwn link for LUN $lun on $device: $links"
    for link in $links; do
        [[ $(readlink -f "/dev/$link") == "$device" ]] || fail "/dev/$link leads to $(readlink -f "/dev/$link"), not $device"
    done
    echo "$links"
}

check() {
    [[ -d /run/systemd/system ]] || fail "systemd is not running"

    step "LIO: target $IQN_LIO with fileio LUNs 0 ($LUN0_MIB MiB) and 1 ($LUN1_MIB MiB), ACL $IQN_CLIENT, portal $PORTAL"
    [[ -S /run/dbus/system_bus_socket ]] || { mkdir -p /run/dbus && run dbus-daemon --system --fork; }
    mkdir -p /tmp/lio
    local tpg=/iscsi/$IQN_LIO/tpg1
    run targetcli /backstores/fileio create lun0 /tmp/lio/lun0.img "${LUN0_MIB}M"
    run targetcli /backstores/fileio create lun1 /tmp/lio/lun1.img "${LUN1_MIB}M"
    run targetcli /iscsi create "$IQN_LIO"
    run targetcli "$tpg/luns" create /backstores/fileio/lun0
    run targetcli "$tpg/luns" create /backstores/fileio/lun1
    run targetcli "$tpg/acls" create "$IQN_CLIENT"
    run targetcli "$tpg/acls/$IQN_CLIENT" set auth "userid=$CHAP_USER" "password=$CHAP_SECRET"
    run targetcli "$tpg" set attribute authentication=1
    run targetcli "$tpg/portals" delete 0.0.0.0 3260
    run targetcli "$tpg/portals" create 127.0.0.1 3260

    step "one login with CHAP and no node record, one kernel device per LUN"
    echo "$CHAP_SECRET" > /tmp/chap.secret
    chmod 600 /tmp/chap.secret
    capture login iscsi-up login -T "$IQN_LIO" -p 127.0.0.1 -I "$IQN_CLIENT" --nbd-device auto --chap-user "$CHAP_USER" --chap-secret-file /tmp/chap.secret
    [[ -z $(ls -A "$ISCSI_UP_CONFIG_DIR/nodes" 2> /dev/null) ]] || fail "login wrote a node record: $(ls "$ISCSI_UP_CONFIG_DIR/nodes")"
    rm /tmp/chap.secret # the successor must not need it
    ((login_rc == 0)) || fail "iscsi-up login exited with $login_rc: $login_err"
    echo "$login_out"
    local dev0 dev1
    dev0=$(sed -n 's/^Device: \(\/dev\/nbd[0-9]*\) (LUN 0)$/\1/p' <<< "$login_out")
    dev1=$(sed -n 's/^Device: \(\/dev\/nbd[0-9]*\) (LUN 1)$/\1/p' <<< "$login_out")
    [[ -b $dev0 && -b $dev1 && $dev0 != "$dev1" ]] || fail "expected 'Device: /dev/nbdX (LUN 0)' and '(LUN 1)' lines: $login_out"
    (($(blockdev --getsize64 "$dev0") == LUN0_MIB << 20)) || fail "$dev0 has $(blockdev --getsize64 "$dev0") bytes, LUN 0 has $((LUN0_MIB << 20))"
    (($(blockdev --getsize64 "$dev1") == LUN1_MIB << 20)) || fail "$dev1 has $(blockdev --getsize64 "$dev1") bytes, LUN 1 has $((LUN1_MIB << 20))"
    capture session iscsi-up session
    echo "$session_out"
    assert_contains "$session_out" "$IQN_LIO lun 0 $dev0 $LUN0_MIB MiB LOGGED_IN" "iscsi-up session"
    assert_contains "$session_out" "$IQN_LIO lun 1 $dev1 $LUN1_MIB MiB LOGGED_IN" "iscsi-up session"

    step "udev names: by-path and by-id per LUN, each leading to its own device"
    run udevadm settle
    local ours0 ours1
    ours0=$(links_of "$dev0" 0)
    ours1=$(links_of "$dev1" 1)
    note "$dev0: $(tr '\n' ' ' <<< "$ours0")"
    note "$dev1: $(tr '\n' ' ' <<< "$ours1")"
    [[ $(grep wwn- <<< "$ours0") != "$(grep wwn- <<< "$ours1")" ]] || fail "LUN 0 and LUN 1 got the same wwn name"

    step "XFS on LUN 0 through its by-path name; other bytes on LUN 1, held open"
    local by_path0=/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_LIO-lun-0
    run mkfs.xfs -q "$by_path0"
    mkdir -p "$MNT"
    run mount "$by_path0" "$MNT"
    write_payload "$MNT"
    head -c 16M /dev/urandom > /tmp/lun1.data
    run dd if=/tmp/lun1.data of="/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_LIO-lun-1" bs=1M oflag=direct status=none
    local want1
    want1=$(sha256sum < /tmp/lun1.data)
    sleep 3600 < "$dev1" &
    local holder=$!
    at_exit "kill $holder 2> /dev/null"

    step "systemctl restart iscsi-upd: the new daemon takes both devices over"
    local before after
    before=$(daemon_pid)
    run systemctl restart iscsi-upd.service
    wait_for 60 "a new daemon after pid $before" bash -c '[[ $(systemctl show -P MainPID iscsi-upd.service) != 0 && $(systemctl show -P MainPID iscsi-upd.service) != '"$before"' ]]'
    after=$(daemon_pid)
    wait_for 60 "daemon pid $after to hold the session with both devices" bash -c \
        "grep -qsE '^pid=$after\$' $ISCSI_UP_RUN_DIR/sessions/*.session && grep -qsx state=LOGGED_IN $ISCSI_UP_RUN_DIR/sessions/*.session"
    local device
    for device in "$dev0" "$dev1"; do
        [[ -e /sys/block/${device#/dev/}/pid ]] || fail "$device is no longer connected after the restart"
    done
    capture session iscsi-up session
    assert_contains "$session_out" "$IQN_LIO lun 0 $dev0 $LUN0_MIB MiB LOGGED_IN" "iscsi-up session after the restart"
    assert_contains "$session_out" "$IQN_LIO lun 1 $dev1 $LUN1_MIB MiB LOGGED_IN" "iscsi-up session after the restart"
    journalctl -b -u iscsi-upd.service -o cat --no-pager | grep -E "left for the next daemon|taking over|taken over" | sed 's/^/  journal| /'
    drop_caches "$dev1"
    [[ $(head -c 16M "$dev1" | sha256sum) == "$want1" ]] || fail "LUN 1 does not read back the bytes written before the restart"
    check_payload "$MNT"
    assert_no_io_errors "$dev0" "after the restart"
    assert_no_io_errors "$dev1" "after the restart"

    step "logged out, open-iscsi logs in to the same LUNs: the same names per LUN, the same bytes"
    run umount "$MNT"
    kill "$holder"
    wait "$holder" 2> /dev/null || true
    run iscsi-up logout -T "$IQN_LIO" -p 127.0.0.1
    [[ ! -e /sys/block/${dev0#/dev/}/pid && ! -e /sys/block/${dev1#/dev/}/pid ]] || fail "a device is still connected after logout"
    run udevadm settle
    start_iscsid "$IQN_CLIENT"
    run iscsiadm -m discovery -t st -p 127.0.0.1
    run iscsiadm -m node -T "$IQN_LIO" -p 127.0.0.1 -o update -n node.session.auth.authmethod -v CHAP
    run iscsiadm -m node -T "$IQN_LIO" -p 127.0.0.1 -o update -n node.session.auth.username -v "$CHAP_USER"
    run iscsiadm -m node -T "$IQN_LIO" -p 127.0.0.1 -o update -n node.session.auth.password -v "$CHAP_SECRET"
    run iscsiadm -m node -T "$IQN_LIO" -p 127.0.0.1 --login
    local by_path1=/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_LIO-lun-1
    wait_for 60 "open-iscsi's by-path names for both LUNs" test -e "$by_path0" -a -e "$by_path1"
    run udevadm settle
    local sd0 sd1 theirs0 theirs1
    sd0=$(readlink -f "$by_path0")
    sd1=$(readlink -f "$by_path1")
    [[ $sd0 == /dev/sd* && $sd1 == /dev/sd* ]] || fail "open-iscsi's by-path names lead to $sd0 and $sd1, not /dev/sdX"
    theirs0=$(disk_links "$sd0")
    theirs1=$(disk_links "$sd1")
    note "open-iscsi's $sd0: $(tr '\n' ' ' <<< "$theirs0")"
    note "open-iscsi's $sd1: $(tr '\n' ' ' <<< "$theirs1")"
    [[ $ours0 == "$theirs0" ]] || fail "LUN 0: $dev0 had [$(tr '\n' ' ' <<< "$ours0")], open-iscsi's $sd0 has [$(tr '\n' ' ' <<< "$theirs0")]"
    [[ $ours1 == "$theirs1" ]] || fail "LUN 1: $dev1 had [$(tr '\n' ' ' <<< "$ours1")], open-iscsi's $sd1 has [$(tr '\n' ' ' <<< "$theirs1")]"
    [[ $(head -c 16M "$sd1" | sha256sum) == "$want1" ]] || fail "open-iscsi's $sd1 (LUN 1) does not hold the bytes written through iscsi-up"
    run mount -o ro "$sd0" "$MNT"
    check_payload "$MNT"
    run umount "$MNT"
    run iscsiadm -m node -T "$IQN_LIO" -p 127.0.0.1 --logout
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:setup) setup ;;
    a:check) check ;;
    *) fail "several-luns has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run several-luns)" ;;
esac
