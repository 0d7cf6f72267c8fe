#!/usr/bin/env bash
# target-outage: target outages under a mounted XFS on /dev/nbdX, with the default timeouts (session
# replacement timeout 120 s; the kernel device's request timeout 180 s and dead-connection timeout 120 s).
#   - 60 s without the target (longer than the block layer's default 30 s request timeout): the
#     checksummed writer (256 KiB files with conv=fsync) only waits; afterwards it goes on, no error,
#     every file reads back with its checksum, dmesg has no I/O error and no nbd request timeout;
#   - an outage longer than the replacement timeout: I/O fails with errors (no hang), the journal (the
#     daemon's log) says why, the filesystem can be unmounted and `iscsi-up logout` ends the session.
# lab-needs: iscsi-up iscsi-test-target
# lab-boots: a:plain:600
# shellcheck source=SCRIPTDIR/../guest-lib.sh
source "$LAB_DIR/guest-lib.sh"

readonly MNT=/iscsi RAID=/tmp/raid

kill_target() {
    kill "$TARGET_PID"
    wait "$TARGET_PID" 2> /dev/null || true
    cat /tmp/target.log >> /tmp/target-all.log
    TARGET_PID=
}

step "iscsi-up mount (default timeouts) and a checksummed writer"
start_test_target "$RAID"
run iscsi-up mount -T "$IQN_DISK" -p "$PORTAL" -I "$IQN_CLIENT" -m "$MNT" --fstab /tmp/fstab
DEVICE=$(findmnt -n -o SOURCE --target "$MNT")
[[ $DEVICE == /dev/nbd* ]] || fail "$MNT is mounted from '$DEVICE', not /dev/nbdX"
start_writer "$MNT/w"
writer_progress 5 120 "before the outage"

step "the target goes away for 60 s"
kill_target
sleep 60
start_test_target "$RAID"
writer_progress 5 150 "after the 60 s outage"
stop_writer "$MNT/w" "$DEVICE"
assert_no_io_errors "$DEVICE" "after a 60 s outage"
! dmesg | tail -n +"$((lab_dmesg_lines + 1))" | grep -qE "nbd.*(Connection timed out|Possible stuck request)" \
    || fail "the kernel timed out a request during the 60 s outage"
note "daemon log: $(grep -E 'reconnect' "$ISCSI_UP_RUN_DIR/daemon.log" | tail -n 2 | tr '\n' '|')"

step "an outage longer than the 120 s replacement timeout: I/O fails, umount and logout work"
kill_target
t=$SECONDS rc=0
timeout 300 dd if=/dev/urandom of="$MNT/after" bs=256K count=1 conv=fsync status=none || rc=$?
((rc != 0 && rc != 124)) || fail "a write during a long outage did not fail in time (dd exit $rc)"
note "the write failed after $((SECONDS - t)) s (dd exit $rc)"
log=$(tail -n 20 "$ISCSI_UP_RUN_DIR/daemon.log")
printf '%s\n' "$log" | sed 's/^/  daemon.log| /'
assert_contains "$log" "within the 120 s replacement timeout" "the daemon's log after the long outage"
timeout 120 umount "$MNT" || fail "umount $MNT did not succeed after the long outage"
capture logout iscsi-up logout -T "$IQN_DISK" -p "$PORTAL"
! grep -q "$DEVICE" <<< "$(iscsi-up session 2>&1 || true)" || fail "the session still shows $DEVICE after logout"
note "logout exit $logout_rc: $logout_out $logout_err"
