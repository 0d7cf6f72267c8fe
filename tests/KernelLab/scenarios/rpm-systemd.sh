#!/usr/bin/env bash
# rpm-systemd: the RPM's scriptlets and units under a live systemd (PID 1), as `dnf install` would run
# them on RHEL: install the package built by packaging/rpm/build.sh (with its scripts, --nodeps only
# because the guest is Debian and has no RHEL packages), then
#   - %post: the units are enabled by preset, /run/iscsi-up exists (tmpfiles.d), an initiator name
#     was generated once, mode 0600;
#   - the installed iscsi-upd.socket starts the daemon on the first connection: a node created with
#     /usr/bin/iscsi-up and `systemctl start iscsi-up.service` logs it in through the socket-activated
#     daemon, and /dev/nbdX appears;
#   - an upgrade (rpm -Uvh of the same build as release 2) with the filesystem mounted restarts the
#     daemon; the new one takes the mounted device over (no I/O error, the file intact);
#   - rpm -e: %preun disables and stops the units (the daemon logs out, the device is detached), the
#     files are gone.
# lab-needs: iscsi-up iscsi-test-target rpm
# lab-boots: a:systemd:300
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

# The installed package uses the real places, as on RHEL.
export ISCSI_UP_CONFIG_DIR=/etc/iscsi-up ISCSI_UP_RUN_DIR=/run/iscsi-up
units="iscsi-upd.socket iscsi-upd.service iscsi-up.service"

setup() {
    [[ -n ${LAB_RPM:-} && -f $LAB_RPM ]] || fail "no RPM to install (LAB_RPM=${LAB_RPM:-}; the runner builds it with packaging/rpm/build.sh)"
    [[ ! -e /usr/bin/iscsi-up ]] || fail "/usr/bin/iscsi-up exists before the package is installed"
    # A machine without open-iscsi's name (the host image has one; %post would rightly keep to it).
    rm -f /etc/iscsi/initiatorname.iscsi
}

check() {
    local rpm_file=$LAB_RPM
    step "rpm -ivh --nodeps $(basename "$rpm_file") with its scriptlets, systemd running"
    [[ -d /run/systemd/system ]] || fail "systemd is not running"
    run rpm -ivh --nodeps "$rpm_file"
    rpm -q iscsi-up > /dev/null || fail "rpm -q iscsi-up: not installed"

    step "%post: units enabled by preset, /run/iscsi-up created, an initiator name generated"
    local unit state
    for unit in iscsi-upd.socket iscsi-up.service; do
        state=$(systemctl is-enabled "$unit" 2>&1 || true)
        [[ $state == enabled ]] || fail "$unit is '$state' after %post (systemctl preset, default policy enables)"
    done
    note "enabled: iscsi-upd.socket, iscsi-up.service (iscsi-upd.service is $(systemctl is-enabled iscsi-upd.service 2>&1 || true): started by its socket)"
    [[ $(stat -c '%a %U' /run/iscsi-up) == "700 root" ]] || fail "/run/iscsi-up is $(stat -c '%a %U' /run/iscsi-up 2>&1)"
    [[ $(stat -c '%a %U' /etc/iscsi-up/initiatorname.iscsi) == "600 root" ]] || fail "initiatorname.iscsi: $(stat -c '%a %U' /etc/iscsi-up/initiatorname.iscsi 2>&1)"
    grep -qxE 'InitiatorName=iqn\.2026-11\.org\.iscsi-up:[0-9a-f]{12}' /etc/iscsi-up/initiatorname.iscsi \
        || fail "initiatorname.iscsi: $(cat /etc/iscsi-up/initiatorname.iscsi)"
    local name
    name=$(sed 's/^InitiatorName=//' /etc/iscsi-up/initiatorname.iscsi)
    [[ $(/usr/bin/iscsi-up iname) == "$name" ]] || fail "iscsi-up iname does not show the generated name $name"
    note "initiator name: $name"

    step "the socket listens, the daemon is not running yet"
    run systemctl start iscsi-upd.socket
    [[ -S /run/iscsi-up/control.sock ]] || fail "no /run/iscsi-up/control.sock"
    [[ $(stat -c '%a' /run/iscsi-up/control.sock) == 600 ]] || fail "control.sock is mode $(stat -c '%a' /run/iscsi-up/control.sock)"
    [[ $(systemctl is-active iscsi-upd.service) != active ]] || fail "iscsi-upd.service runs before anyone asked"

    step "a node for the target, logged in by iscsi-up.service through the socket-activated daemon"
    start_test_target /tmp/raid-rpm
    # The target's ACL names $IQN_CLIENT; the node presents it.
    run /usr/bin/iscsi-up node -T "$IQN_DISK" -p "$PORTAL" -I "$IQN_CLIENT" --startup automatic
    run systemctl start iscsi-up.service
    [[ $(systemctl is-active iscsi-upd.service) == active ]] || fail "iscsi-upd.service is $(systemctl is-active iscsi-upd.service)"
    local session device pid
    session=$(/usr/bin/iscsi-up session)
    note "iscsi-up session: $session"
    device=$(grep -oE '/dev/nbd[0-9]+' <<< "$session" || true)
    [[ -n $device && -b $device ]] || fail "no /dev/nbdX in: $session"
    [[ -e /sys/block/${device#/dev/}/pid ]] || fail "$device is not connected"
    pid=$(systemctl show -P MainPID iscsi-upd.service)
    note "daemon pid $pid serves $device; journal: $(journalctl -b -u iscsi-up.service -o cat --no-pager | tail -n 1)"
    write_and_verify "$device" /mnt/rpm-disk

    step "upgrade (rpm -Uvh of release 2) with the filesystem mounted: the daemon restarts and takes the device over"
    [[ -n ${LAB_RPM_NEXT:-} && -f $LAB_RPM_NEXT ]] || fail "no newer RPM to upgrade to (LAB_RPM_NEXT=${LAB_RPM_NEXT:-})"
    mount_by_uuid "$device" /mnt/rpm-disk
    run rpm -Uvh --nodeps "$LAB_RPM_NEXT"
    [[ $(rpm -q --qf '%{RELEASE}' iscsi-up) == 2* ]] || fail "rpm -q iscsi-up: $(rpm -q iscsi-up) after the upgrade"
    local after
    after=$(systemctl show -P MainPID iscsi-upd.service)
    [[ $after != "$pid" && $after != 0 ]] || fail "the upgrade did not restart the daemon (pid $pid -> $after)"
    wait_for 60 "daemon pid $after to take $device over" bash -c "grep -qsE '^pid=$after\$' /run/iscsi-up/sessions/*.session && grep -qsx state=LOGGED_IN /run/iscsi-up/sessions/*.session"
    [[ -e /sys/block/${device#/dev/}/pid ]] || fail "$device was detached by the upgrade"
    assert_contains "$(/usr/bin/iscsi-up session)" "$device" "iscsi-up session after the upgrade"
    check_payload /mnt/rpm-disk
    head -c 1M /dev/urandom > /mnt/rpm-disk/after-upgrade.bin
    sync
    ! dmesg | grep -qE "I/O error, dev ${device#/dev/}" || fail "dmesg has I/O errors for $device after the upgrade"
    note "daemon pid $pid -> $after; $(journalctl -b -u iscsi-upd.service -o cat --no-pager | grep -E 'left for the next daemon|taken over' | tr '\n' '|')"
    run umount /mnt/rpm-disk

    step "rpm -e: %preun disables and stops the units; the daemon logs out and detaches"
    run rpm -e --nodeps iscsi-up
    for unit in $units; do
        state=$(systemctl is-active "$unit" 2>&1 || true)
        [[ $state != active ]] || fail "$unit is still active after rpm -e"
    done
    [[ ! -e /sys/block/${device#/dev/}/pid ]] || fail "$device is still connected after rpm -e"
    [[ ! -e /usr/bin/iscsi-up && ! -e /usr/lib/systemd/system/iscsi-upd.service ]] || fail "files left behind by rpm -e"
    local logout
    logout=$(journalctl -b -u iscsi-upd.service -o cat --no-pager | grep -E 'Logout of \[target: ' || true)
    [[ -n $logout ]] || fail "the daemon did not log out when %preun stopped it: $(journalctl -b -u iscsi-upd.service -o cat --no-pager | tail -n 5 | tr '\n' '|')"
    note "$logout"
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:setup) setup ;;
    a:check) check ;;
    *) fail "rpm-systemd has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run rpm-systemd)" ;;
esac
