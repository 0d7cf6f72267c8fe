# Sourced after guest-lib.sh by the scenarios that install a package under a live systemd (rpm-systemd,
# deb-systemd): the checks every package format must pass. The installed package uses the real places.
export ISCSI_UP_CONFIG_DIR=/etc/iscsi-up ISCSI_UP_RUN_DIR=/run/iscsi-up
package_units="iscsi-upd.socket iscsi-upd.service iscsi-up.service"

# package_setup FILE WHAT: before the installation: the package is there, iscsi-up is not installed, and
# the machine has no open-iscsi name (the host image has one; the scripts would rightly keep to it).
package_setup() {
    [[ -n $1 && -f $1 ]] || fail "no $2 to install (\"$1\"; the runner builds it beside the binaries)"
    [[ ! -e /usr/bin/iscsi-up ]] || fail "/usr/bin/iscsi-up exists before the package is installed"
    rm -f /etc/iscsi/initiatorname.iscsi
}

# check_installed_state SCRIPT: after the installation script: the socket and the boot unit enabled,
# /run/iscsi-up made by tmpfiles.d, an initiator name generated (0600) that iscsi-up presents. Sets
# package_name.
check_installed_state() {
    local unit state
    for unit in iscsi-upd.socket iscsi-up.service; do
        state=$(systemctl is-enabled "$unit" 2>&1 || true)
        [[ $state == enabled ]] || fail "$unit is '$state' after $1"
    done
    note "enabled: iscsi-upd.socket, iscsi-up.service (iscsi-upd.service is $(systemctl is-enabled iscsi-upd.service 2>&1 || true): started by its socket)"
    [[ $(stat -c '%a %U' /run/iscsi-up) == "700 root" ]] || fail "/run/iscsi-up is $(stat -c '%a %U' /run/iscsi-up 2>&1)"
    [[ $(stat -c '%a %U' /etc/iscsi-up/initiatorname.iscsi) == "600 root" ]] || fail "initiatorname.iscsi: $(stat -c '%a %U' /etc/iscsi-up/initiatorname.iscsi 2>&1)"
    grep -qxE 'InitiatorName=iqn\.2026-11\.org\.iscsi-up:[0-9a-f]{12}' /etc/iscsi-up/initiatorname.iscsi \
        || fail "initiatorname.iscsi: $(cat /etc/iscsi-up/initiatorname.iscsi)"
    package_name=$(sed 's/^InitiatorName=//' /etc/iscsi-up/initiatorname.iscsi)
    [[ $(/usr/bin/iscsi-up iname) == "$package_name" ]] || fail "iscsi-up iname does not show the generated name $package_name"
    note "initiator name: $package_name"
}

# check_socket_only: the control socket listens (0600) and the daemon does not run yet.
check_socket_only() {
    [[ -S /run/iscsi-up/control.sock ]] || fail "no /run/iscsi-up/control.sock"
    [[ $(stat -c '%a' /run/iscsi-up/control.sock) == 600 ]] || fail "control.sock is mode $(stat -c '%a' /run/iscsi-up/control.sock)"
    [[ $(systemctl is-active iscsi-upd.service) != active ]] || fail "iscsi-upd.service runs before anyone asked"
}

# login_through_socket RAIDDIR MOUNTPOINT: a node for the test target, logged in by iscsi-up.service through
# the socket-activated daemon; /dev/nbdX carries XFS written and read back. Sets package_device, package_pid.
login_through_socket() {
    step "a node for the target, logged in by iscsi-up.service through the socket-activated daemon"
    start_test_target "$1"
    # The target's ACL names $IQN_CLIENT; the node presents it.
    run /usr/bin/iscsi-up node -T "$IQN_DISK" -p "$PORTAL" -I "$IQN_CLIENT" --startup automatic
    run systemctl start iscsi-up.service
    [[ $(systemctl is-active iscsi-upd.service) == active ]] || fail "iscsi-upd.service is $(systemctl is-active iscsi-upd.service)"
    local session
    session=$(/usr/bin/iscsi-up session)
    note "iscsi-up session: $session"
    package_device=$(grep -oE '/dev/nbd[0-9]+' <<< "$session" || true)
    [[ -n $package_device && -b $package_device ]] || fail "no /dev/nbdX in: $session"
    [[ -e /sys/block/${package_device#/dev/}/pid ]] || fail "$package_device is not connected"
    package_pid=$(systemctl show -P MainPID iscsi-upd.service)
    note "daemon pid $package_pid serves $package_device; journal: $(journalctl -b -u iscsi-up.service -o cat --no-pager | tail -n 1)"
    write_and_verify "$package_device" "$2"
}

# check_udev_names MOUNTPOINT: the package's udev rule gives our device the names open-iscsi's /dev/sdX gets for
# the same LUN (logged in with iscsiadm for comparison, then logged out), each name leads to our device, and
# the filesystem mounts by its by-path name.
check_udev_names() {
    step "udev names: by-path and by-id links for $package_device, the same as open-iscsi's /dev/sdX for the same LUN"
    run udevadm settle
    local ours theirs link sd before
    ours=$(disk_links "$package_device")
    note "$package_device: $(tr '\n' ' ' <<< "$ours")"
    grep -qxF "disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_DISK-lun-0" <<< "$ours" || fail "no by-path link for $package_device: $ours"
    grep -qE '^disk/by-id/wwn-0x[0-9a-f]+$' <<< "$ours" || fail "no by-id wwn link for $package_device: $ours"
    start_iscsid "$IQN_CLIENT"
    before=$(ls /sys/class/scsi_disk)
    run iscsiadm -m discovery -t st -p 127.0.0.1
    run iscsiadm -m node -T "$IQN_DISK" -p 127.0.0.1 --login
    wait_for 60 "open-iscsi's SCSI disk" bash -c "ls /sys/class/scsi_disk | grep -vxF '$before' | grep -q ."
    sd=/dev/$(basename "$(ls -d /sys/class/scsi_disk/"$(ls /sys/class/scsi_disk | grep -vxF "$before" | head -n 1)"/device/block/* | head -n 1)")
    run udevadm settle
    theirs=$(disk_links "$sd")
    note "open-iscsi's $sd: $(tr '\n' ' ' <<< "$theirs")"
    run iscsiadm -m node -T "$IQN_DISK" -p 127.0.0.1 --logout
    run udevadm settle
    [[ $ours == "$theirs" ]] || fail "udev names differ: $package_device has [$(tr '\n' ' ' <<< "$ours")], open-iscsi's $sd has [$(tr '\n' ' ' <<< "$theirs")]"
    for link in $ours; do
        [[ $(readlink -f "/dev/$link") == "$package_device" ]] || fail "/dev/$link leads to $(readlink -f "/dev/$link"), not $package_device"
    done
    run mount "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_DISK-lun-0" "$1"
    check_payload "$1"
    run umount "$1"
}

# check_live_upgrade WHAT MOUNTPOINT COMMAND...: an upgrade with the filesystem mounted: COMMAND restarts the
# daemon, and the new one takes the mounted device over (no I/O error, the data intact, writes go on).
check_live_upgrade() {
    local what=$1 mountpoint=$2 after
    shift 2
    mount_by_uuid "$package_device" "$mountpoint"
    run "$@"
    after=$(systemctl show -P MainPID iscsi-upd.service)
    [[ $after != "$package_pid" && $after != 0 ]] || fail "$what did not restart the daemon (pid $package_pid -> $after)"
    wait_for 60 "daemon pid $after to take $package_device over" bash -c "grep -qsE '^pid=$after\$' /run/iscsi-up/sessions/*.session && grep -qsx state=LOGGED_IN /run/iscsi-up/sessions/*.session"
    [[ -e /sys/block/${package_device#/dev/}/pid ]] || fail "$package_device was detached by $what"
    assert_contains "$(/usr/bin/iscsi-up session)" "$package_device" "iscsi-up session after $what"
    check_payload "$mountpoint"
    head -c 1M /dev/urandom > "$mountpoint/after-upgrade.bin"
    sync
    ! dmesg | grep -qE "I/O error, dev ${package_device#/dev/}" || fail "dmesg has I/O errors for $package_device after $what"
    note "daemon pid $package_pid -> $after; $(journalctl -b -u iscsi-upd.service -o cat --no-pager | grep -E 'left for the next daemon|taken over' | tr '\n' '|')"
    run umount "$mountpoint"
}

# check_removed WHAT: after the removal: every unit stopped, the daemon logged out and detached the device,
# the executable and the units gone.
check_removed() {
    local unit state logout
    for unit in $package_units; do
        state=$(systemctl is-active "$unit" 2>&1 || true)
        [[ $state != active ]] || fail "$unit is still active after $1"
    done
    [[ ! -e /sys/block/${package_device#/dev/}/pid ]] || fail "$package_device is still connected after $1"
    [[ ! -e /usr/bin/iscsi-up && ! -e /usr/lib/systemd/system/iscsi-upd.service && ! -e /lib/systemd/system/iscsi-upd.service ]] \
        || fail "files left behind by $1"
    logout=$(journalctl -b -u iscsi-upd.service -o cat --no-pager | grep -E 'Logout of \[target: ' || true)
    [[ -n $logout ]] || fail "the daemon did not log out when $1 stopped it: $(journalctl -b -u iscsi-upd.service -o cat --no-pager | tail -n 5 | tr '\n' '|')"
    note "$logout"
}
