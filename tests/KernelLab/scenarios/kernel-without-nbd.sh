#!/usr/bin/env bash
# kernel-without-nbd: on a kernel whose nbd driver cannot be loaded (RHEL 7 has none),
# `iscsi-up login --nbd-device auto` must fail with a clear one-line message that names nbd and
# a non-zero exit status, leave no session behind, and the target must still accept a new login
# (here one that serves NBD on a TCP socket instead, which needs no kernel driver).
# lab-needs: iscsi-up iscsi-test-target
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

step "make the nbd driver unavailable"
if grep -q '^nbd ' /proc/modules; then
    run rmmod nbd
fi
# An empty /lib/modules: modprobe cannot find nbd.ko (nor anything else from now on).
run mount -t tmpfs -o ro,mode=0755 tmpfs /lib/modules
at_exit 'umount /lib/modules 2> /dev/null'
if modprobe nbd 2> /dev/null; then fail "modprobe nbd still works: the scenario cannot hide the driver"; fi
[[ ! -e /sys/module/nbd ]] || fail "the nbd module is still loaded"
note "nbd is not loaded and modprobe nbd fails"

step "start iscsi-test-target"
start_test_target

step "iscsi-up login --nbd-device auto fails clearly"
capture login iscsi-up login -T "$IQN_DISK" -p 127.0.0.1 -I "$IQN_CLIENT" --nbd-device auto
((login_rc != 0)) || fail "iscsi-up login --nbd-device auto succeeded without an nbd driver"
assert_one_line "$login_err" "stderr of the failed login"
assert_contains "$login_err" "nbd" "stderr of the failed login"
assert_not_contains "$login_out$login_err" "Exception" "output of the failed login"
note "exit status $login_rc, message: $login_err"
[[ ! -e /sys/block/nbd0 ]] || fail "/sys/block/nbd0 exists although nbd never loaded"

step "no session is left behind"
capture session iscsi-up session
assert_not_contains "$session_out" "$IQN_DISK" "iscsi-up session after the failed login"
# shellcheck disable=SC2016  # expanded by the inner bash
wait_for 20 "the target to end the failed login's session" \
    bash -c '! grep -q "logged in" /tmp/target.log || [[ $(grep -c "logged in" /tmp/target.log) == $(grep -c "ended:" /tmp/target.log) ]]'

step "the target still accepts a new login (NBD on TCP needs no kernel driver)"
capture listen iscsi-up login -T "$IQN_DISK" -p 127.0.0.1 -I "$IQN_CLIENT" --nbd-listen 127.0.0.1:10809
((listen_rc == 0)) || fail "a new login after the failed one exited with $listen_rc: $listen_err"
capture info nbdinfo --size nbd://127.0.0.1:10809/
((info_rc == 0)) || fail "nbdinfo on the new session failed: $info_err"
((info_out == 2 * DISK_SIZE_MIB * 1024 * 1024)) || fail "nbdinfo reports $info_out bytes"
capture session iscsi-up session
assert_contains "$session_out" "$IQN_DISK" "iscsi-up session with the new login"
capture logout iscsi-up logout --all
((logout_rc == 0)) || fail "iscsi-up logout --all exited with $logout_rc: $logout_err"
