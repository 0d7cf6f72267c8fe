#!/usr/bin/env bash
# rpm-systemd: the RPM's scriptlets and units under a live systemd (PID 1), as `dnf install` would run
# them on RHEL: install the package built by packaging/rpm/build.sh (with its scripts, --nodeps only
# because the guest is Debian and has no RHEL packages), then
#   - %post: the units are enabled by preset, /run/iscsi-up exists (tmpfiles.d), an initiator name
#     was generated once, mode 0600;
#   - the installed iscsi-upd.socket starts the daemon on the first connection: a node created with
#     /usr/bin/iscsi-up and `systemctl start iscsi-up.service` logs it in through the socket-activated
#     daemon, and /dev/nbdX appears;
#   - the udev rule gives the device the by-path and by-id names open-iscsi's /dev/sdX gets for the same LUN,
#     and the filesystem mounts by its by-path name;
#   - an upgrade (rpm -Uvh of the same build as release 2) with the filesystem mounted restarts the
#     daemon; the new one takes the mounted device over (no I/O error, the file intact);
#   - rpm -e: %preun disables and stops the units (the daemon logs out, the device is detached), the
#     files are gone.
# lab-needs: iscsi-up iscsi-test-target rpm
# lab-boots: a:systemd:300
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"
# shellcheck source=SCRIPTDIR/../package-lib.sh
source "$LAB_DIR/package-lib.sh"

setup() { package_setup "${LAB_RPM:-}" "RPM (LAB_RPM)"; }

check() {
    local rpm_file=$LAB_RPM
    step "rpm -ivh --nodeps $(basename "$rpm_file") with its scriptlets, systemd running"
    [[ -d /run/systemd/system ]] || fail "systemd is not running"
    run rpm -ivh --nodeps "$rpm_file"
    rpm -q iscsi-up > /dev/null || fail "rpm -q iscsi-up: not installed"

    step "%post: units enabled by preset, /run/iscsi-up created, an initiator name generated"
    check_installed_state "%post (systemctl preset, default policy enables)"

    step "the socket listens, the daemon is not running yet"
    run systemctl start iscsi-upd.socket
    check_socket_only

    login_through_socket /tmp/raid-rpm /mnt/rpm-disk
    check_udev_names /mnt/rpm-disk

    step "upgrade (rpm -Uvh of release 2) with the filesystem mounted: the daemon restarts and takes the device over"
    [[ -n ${LAB_RPM_NEXT:-} && -f $LAB_RPM_NEXT ]] || fail "no newer RPM to upgrade to (LAB_RPM_NEXT=${LAB_RPM_NEXT:-})"
    check_live_upgrade "the upgrade to release 2" /mnt/rpm-disk rpm -Uvh --nodeps "$LAB_RPM_NEXT"
    [[ $(rpm -q --qf '%{RELEASE}' iscsi-up) == 2* ]] || fail "rpm -q iscsi-up: $(rpm -q iscsi-up) after the upgrade"

    step "rpm -e: %preun disables and stops the units; the daemon logs out and detaches"
    run rpm -e --nodeps iscsi-up
    check_removed "rpm -e"
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:setup) setup ;;
    a:check) check ;;
    *) fail "rpm-systemd has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run rpm-systemd)" ;;
esac
