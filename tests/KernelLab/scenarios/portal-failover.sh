#!/usr/bin/env bash
# portal-failover: the bundled target on two portals of one portal group (127.0.0.2:3261 and
# 127.0.0.1:3260); the node learns both (node, discover), `iscsi-up mount` logs in at 127.0.0.2:3261
# under a checksummed writer (256 KiB files with conv=fsync). 127.0.0.2 is then made unreachable (an
# unreachable route in the local table, `ss -K` for the live connection): recovery logs in again through
# 127.0.0.1:3260. The writer sees no error, every file reads back, no I/O error in dmesg, `session -P 1`
# shows the other portal and 1 failover, the daemon log has the failover line.
# lab-needs: iscsi-up iscsi-test-target
# lab-boots: a:plain:600
# shellcheck source=SCRIPTDIR/../guest-lib.sh
source "$LAB_DIR/guest-lib.sh"

readonly MNT=/iscsi RAID=/tmp/raid LOST=127.0.0.2:3261

step "the target on two portals; the node learns both"
start_test_target "$RAID" --portal "$LOST"
run iscsi-up node -T "$IQN_DISK" -p "$LOST" -I "$IQN_CLIENT" --replacement-timeout 150
run iscsi-up discover -p "$LOST" -I "$IQN_CLIENT"
node=$(cat "$ISCSI_UP_CONFIG_DIR"/nodes/*.node)
assert_contains "$node" "node.portals=" "the node record after discover"
grep '^node.portals=' <<< "$node" | grep -q "$PORTAL" || fail "the node record does not name $PORTAL: $(grep '^node.portals' <<< "$node")"

step "iscsi-up mount at $LOST and a checksummed writer"
run iscsi-up mount -T "$IQN_DISK" -p "$LOST" -I "$IQN_CLIENT" -m "$MNT" --fstab /tmp/fstab
DEVICE=$(findmnt -n -o SOURCE --target "$MNT")
[[ $DEVICE == /dev/nbd* ]] || fail "$MNT is mounted from '$DEVICE', not /dev/nbdX"
grep '^node.portals=' "$ISCSI_UP_CONFIG_DIR"/nodes/*.node | grep -q "$PORTAL" || fail "mount dropped node.portals from the node record"
grep -qx 'node.session.timeo.replacement_timeout=150' "$ISCSI_UP_CONFIG_DIR"/nodes/*.node || fail "mount dropped the node's replacement timeout: $(grep replacement "$ISCSI_UP_CONFIG_DIR"/nodes/*.node)"
start_writer "$MNT/w"
writer_progress 5 120 "before the failover"

step "$LOST becomes unreachable"
run ip route add unreachable 127.0.0.2/32 table local
ss -K dst 127.0.0.2 dport = 3261 > /dev/null 2>&1 || note "ss -K failed: the connection is found dead by the NOP-Out timeout"
writer_progress 5 150 "after the failover"
stop_writer "$MNT/w" "$DEVICE"
assert_no_io_errors "$DEVICE" "across the failover"
shown=$(iscsi-up session -P 1)
printf '%s\n' "$shown" | sed 's/^/  session| /'
assert_contains "$shown" "Current Portal: $PORTAL,1" "session -P 1 after the failover"
assert_contains "$shown" "Persistent Portal: $LOST,1" "session -P 1 after the failover"
assert_contains "$shown" "Failovers: 1" "session -P 1 after the failover"
log=$(cat "$ISCSI_UP_RUN_DIR/daemon.log")
assert_contains "$log" "portal $LOST unreachable, logged in again through $PORTAL" "the daemon log"
note "daemon log: $(grep -E 'fail over|unreachable' "$ISCSI_UP_RUN_DIR/daemon.log" | tr '\n' '|')"
run umount "$MNT"
run iscsi-up logout -T "$IQN_DISK" -p "$LOST"
