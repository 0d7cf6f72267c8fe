#!/usr/bin/env bash
# deb-systemd: the .deb's maintainer scripts and units under a live systemd (PID 1) on Debian 12: install
# the package built by packaging/deb/build.sh with dpkg (its Depends are met by the guest's packages), then
#   - postinst: the units are enabled (deb-systemd-helper), the socket is started and listens while the
#     daemon is not running, /run/iscsi-up exists (tmpfiles.d), an initiator name was generated, mode 0600;
#   - a node created with /usr/bin/iscsi-up and `systemctl start iscsi-up.service` logs in through the
#     socket-activated daemon, and /dev/nbdX appears;
#   - an upgrade (dpkg -i of the same package again) with the filesystem mounted restarts the daemon; the
#     new one takes the mounted device over (no I/O error, the file intact), as with the RPM;
#   - dpkg -r: prerm stops the units (the daemon logs out, the device is detached), the files are gone and
#     the initiator name stays; dpkg -P removes it.
# lab-needs: iscsi-up iscsi-test-target deb
# lab-boots: a:systemd:900
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"
# shellcheck source=SCRIPTDIR/../package-lib.sh
source "$LAB_DIR/package-lib.sh"

setup() {
    package_setup "${LAB_DEB:-}" ".deb (LAB_DEB)"
    # The host image may carry a policy-rc.d that forbids starting services (exit 101), as containers do;
    # a Debian machine has none, and postinst's start of the socket is part of what is tested.
    rm -f /usr/sbin/policy-rc.d
}

check() {
    local deb_file=$LAB_DEB
    step "dpkg -i $(basename "$deb_file") with its maintainer scripts, systemd running"
    [[ -d /run/systemd/system ]] || fail "systemd is not running"
    # --no-triggers: man-db's index rebuild costs half a minute in the guest and tests nothing of ours.
    run dpkg -i --no-triggers "$deb_file"
    [[ $(dpkg-query -W -f '${Status}' iscsi-up) == "install ok installed" ]] || fail "dpkg: iscsi-up is not installed"

    step "postinst: units enabled, the socket started (the daemon not), /run/iscsi-up created, an initiator name generated"
    check_installed_state postinst
    [[ $(systemctl is-active iscsi-upd.socket) == active ]] || fail "iscsi-upd.socket is $(systemctl is-active iscsi-upd.socket) after a first installation"
    check_socket_only

    login_through_socket /tmp/raid-deb /mnt/deb-disk
    step "the udev rule (in /lib/udev/rules.d) names the device by path"
    run udevadm settle
    [[ $(readlink -f "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_DISK-lun-0") == "$package_device" ]] \
        || fail "/dev/disk/by-path/ip-127.0.0.1:3260-iscsi-$IQN_DISK-lun-0 does not lead to $package_device: $(ls -l /dev/disk/by-path 2>&1 | tr '\n' '|')"

    step "upgrade (dpkg -i the same package again) with the filesystem mounted: the daemon restarts and takes the device over"
    check_live_upgrade "the upgrade" /mnt/deb-disk dpkg -i --no-triggers "$deb_file"

    step "dpkg -r: prerm stops the units; the daemon logs out and detaches; the initiator name stays"
    run dpkg -r --no-triggers iscsi-up
    check_removed "dpkg -r"
    [[ $(cat /etc/iscsi-up/initiatorname.iscsi) == "InitiatorName=$package_name" ]] || fail "dpkg -r changed the initiator name"

    step "dpkg -P: the initiator name is gone"
    run dpkg -P --no-triggers iscsi-up
    [[ ! -e /etc/iscsi-up/initiatorname.iscsi ]] || fail "initiatorname.iscsi left after dpkg -P"
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:setup) setup ;;
    a:check) check ;;
    *) fail "deb-systemd has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run deb-systemd)" ;;
esac
