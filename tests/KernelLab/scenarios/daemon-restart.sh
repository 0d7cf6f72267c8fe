#!/usr/bin/env bash
# daemon-restart: a mounted XFS on /dev/nbdX outlives its daemon. systemd is PID 1 with the product's units
# (packaging/systemd, ExecStart pointed at the lab binary). `iscsi-up mount` of the bundled RAID-5 target;
# a checksummed writer (256 KiB files written with conv=fsync, their sha256 in a manifest) runs while
#   - the daemon is killed with SIGKILL, twice, 10 s apart (systemd restarts it: Restart=on-failure; the
#     new daemon logs in again and reattaches the device with NBD_CMD_RECONFIGURE),
#   - `systemctl restart iscsi-upd` (the old daemon drains the mounted device and leaves it waiting),
# and after each the writer goes on. Then: the writer saw no error, every file reads back (caches
# dropped) with its checksum, dmesg has no I/O error for the device and XFS did not shut down.
# Last, a daemon that does not come back (socket and service stopped): I/O fails once the node's
# dead-connection timeout is over, umount works, the journal says how long the device waited.
# The node's nbd timeouts are shortened (request 30 s, dead connection 60 s) to keep the lab short: the
# target is local and healthy here, and a request the killed daemon never answered is resent after
# the request timeout (docs/kernel-device-handover.md).
# lab-needs: iscsi-up iscsi-test-target
# lab-boots: a:systemd:600
# shellcheck source=SCRIPTDIR/../guest-lib.sh
source "$LAB_DIR/guest-lib.sh"

# The daemon runs from the units and uses the real places.
export ISCSI_UP_CONFIG_DIR=/etc/iscsi-up ISCSI_UP_RUN_DIR=/run/iscsi-up
readonly REQUEST_TIMEOUT=30 DEAD_TIMEOUT=60 MNT=/iscsi

setup() {
    step "install packaging/systemd's units (ExecStart: $LAB_BIN/iscsi-up ...), enable the socket"
    local unit
    for unit in iscsi-upd.socket iscsi-upd.service iscsi-up.service; do
        sed "s|^ExecStart=/usr/bin/iscsi-up |ExecStart=$LAB_BIN/iscsi-up |" "$LAB_REPO/packaging/systemd/$unit" | unit_file "$unit"
    done
    grep -qx 'Restart=on-failure' /etc/systemd/system/iscsi-upd.service || fail "iscsi-upd.service has no Restart=on-failure"
    enable_unit iscsi-upd.socket
}

daemon_pid() { systemctl show -P MainPID iscsi-upd.service; }
progress() { writer_progress "$1" $((REQUEST_TIMEOUT + 90)) "$2"; }

# taken_over OLD_PID: a new daemon runs and holds the session again (LOGGED_IN), with the same device.
taken_over() {
    local pid
    wait_for 60 "systemd to start a new daemon after pid $1" bash -c '[[ $(systemctl show -P MainPID iscsi-upd.service) != 0 && $(systemctl show -P MainPID iscsi-upd.service) != '"$1"' ]]'
    pid=$(daemon_pid)
    wait_for $((DEAD_TIMEOUT)) "daemon pid $pid to take $DEVICE over" bash -c "grep -qsE '^pid=$pid\$' $ISCSI_UP_RUN_DIR/sessions/*.session && grep -qsx state=LOGGED_IN $ISCSI_UP_RUN_DIR/sessions/*.session"
    [[ -e /sys/block/${DEVICE#/dev/}/pid ]] || fail "$DEVICE is no longer connected"
    note "daemon pid $pid holds $DEVICE: $(iscsi-up session 2>&1)"
}

check() {
    [[ -d /run/systemd/system ]] || fail "systemd is not running"
    start_test_target /tmp/raid

    step "node with short nbd timeouts (request $REQUEST_TIMEOUT s, dead connection $DEAD_TIMEOUT s), then iscsi-up mount"
    run iscsi-up node -T "$IQN_DISK" -p "$PORTAL" -I "$IQN_CLIENT" --nbd-timeout "$REQUEST_TIMEOUT" --nbd-dead-timeout "$DEAD_TIMEOUT"
    run iscsi-up mount -T "$IQN_DISK" -p "$PORTAL" -I "$IQN_CLIENT" -m "$MNT" --fstab /tmp/fstab
    DEVICE=$(findmnt -n -o SOURCE --target "$MNT")
    [[ $DEVICE == /dev/nbd* ]] || fail "$MNT is mounted from '$DEVICE', not /dev/nbdX"
    assert_contains "$(iscsi-up node -T "$IQN_DISK")" "nbd-timeout=$REQUEST_TIMEOUT nbd-dead-timeout=$DEAD_TIMEOUT" "the node after mount keeps its nbd timeouts"
    note "$MNT on $DEVICE, daemon pid $(daemon_pid), backend $(cat "/sys/block/${DEVICE#/dev/}/backend")"

    step "a checksummed writer on $MNT"
    start_writer "$MNT/w"
    progress 5 "before any kill"

    local first second
    step "kill -9 of the daemon, twice, 10 s apart"
    first=$(daemon_pid)
    run kill -9 "$first"
    sleep 10
    wait_for 60 "systemd to restart the daemon after kill -9 of $first" bash -c '[[ $(systemctl show -P MainPID iscsi-upd.service) != 0 && $(systemctl show -P MainPID iscsi-upd.service) != '"$first"' ]]'
    second=$(daemon_pid)
    run kill -9 "$second"
    taken_over "$second"
    progress 5 "after two kill -9"
    [[ ! -s /tmp/writer.err ]] || fail "the writer saw errors: $(head -n 5 /tmp/writer.err)"
    assert_no_io_errors "$DEVICE" "after kill -9"

    step "systemctl restart iscsi-upd: the mounted device is drained and handed over"
    local before
    before=$(daemon_pid)
    run systemctl restart iscsi-upd.service
    taken_over "$before"
    progress 5 "after systemctl restart"
    local journal
    journal=$(journalctl -b -u iscsi-upd.service -o cat --no-pager)
    assert_contains "$journal" "$DEVICE ($IQN_DISK at $PORTAL) is in use: left for the next daemon, its I/O waits up to $DEAD_TIMEOUT s" "the journal of the stopped daemon"
    assert_contains "$journal" "taken over, I/O resumes" "the journal of the new daemon"
    grep -E "left for the next daemon|taking over|taken over|refus" <<< "$journal" | sed 's/^/  journal| /'

    step "stop the writer; every file reads back from the device with its checksum"
    stop_writer "$MNT/w" "$DEVICE"
    assert_no_io_errors "$DEVICE" "after the writer"

    step "a daemon that does not come back: I/O fails after the $DEAD_TIMEOUT s dead-connection timeout, umount works"
    run systemctl stop iscsi-upd.socket iscsi-upd.service
    journal=$(journalctl -b -u iscsi-upd.service -o cat --no-pager | tail -n 20)
    assert_contains "$journal" "is in use: left for the next daemon, its I/O waits up to $DEAD_TIMEOUT s" "the journal when the daemon stops for good"
    local t=$SECONDS rc=0
    timeout $((REQUEST_TIMEOUT + DEAD_TIMEOUT + 120)) dd if=/dev/urandom of="$MNT/orphan" bs=256K count=1 conv=fsync status=none || rc=$?
    ((rc != 0 && rc != 124)) || fail "a write with no daemon did not fail within the timeouts (dd exit $rc)"
    note "write with no daemon failed after $((SECONDS - t)) s (dd exit $rc)"
    timeout 120 umount "$MNT" || fail "umount $MNT did not succeed after the device failed"
    dmesg | tail -n +"$((lab_dmesg_lines + 1))" | grep -E "nbd|XFS" | tail -n 10 | sed 's/^/  dmesg| /'

    step "without systemd's help, the next iscsi-up command starts a daemon that takes the device over"
    local listing
    listing=$(iscsi-up session 2>&1)
    note "iscsi-up session: $listing"
    assert_contains "$listing" "$DEVICE 320 MiB HANDOVER" "iscsi-up session with the device waiting"
    assert_contains "$listing" "waited for a daemon: the daemon takes it over" "iscsi-up session with the device waiting"
    [[ $(systemctl is-active iscsi-upd.service) != active ]] || fail "iscsi-upd.service runs again: the check needs a daemon started by the command"
    wait_for 60 "the daemon started by 'iscsi-up session' to take $DEVICE over" bash -c "grep -qsx state=LOGGED_IN $ISCSI_UP_RUN_DIR/sessions/*.session"
    note "$(grep -E 'taking over|taken over' "$ISCSI_UP_RUN_DIR/daemon.log" | tr '\n' '|')"
    run iscsi-up logout -T "$IQN_DISK" -p "$PORTAL"
    [[ ! -e /sys/block/${DEVICE#/dev/}/pid ]] || fail "$DEVICE is still connected after logout"
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:setup) setup ;;
    a:check) check ;;
    *) fail "daemon-restart has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run daemon-restart)" ;;
esac
