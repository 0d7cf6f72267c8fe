#!/usr/bin/env bash
# boot-systemd: "set up a node and an fstab line, reboot, the mount is there with the data; write,
# power off, boot again: the write survived" -- with systemd as PID 1 and the product's own unit
# (packaging/systemd/iscsi-up.service, ExecStart pointed at the lab's binary), across four boots
# that share /lab/persist (the target's member disks and what each boot leaves for the next):
#   a (plain init): iscsi-test-target --dir /lab/persist/raid; `iscsi-up mount -m /iscsi` with the
#     real /etc/fstab and /etc/iscsi-up of the overlay: formats, mounts, one fstab line, an
#     automatic node; write a file; umount, logout; save /etc/iscsi-up and /etc/fstab.
#   b (systemd): /etc/iscsi-up and /etc/fstab restored; lab-target.service runs the target from
#     the persistent disks before iscsi-up.service; iscsi-up.service enabled with `systemctl
#     enable` (WantedBy=remote-fs.target). After remote-fs.target: /iscsi is mounted from
#     /dev/nbdX with the right UUID (by udev's /dev/disk/by-uuid link), the file is intact; write a
#     second file; clean poweroff. A drop-in on iscsi-up.service records (ExecStop) whether /iscsi
#     was still mounted when the unit began to stop.
#   c (systemd): both files intact, XFS needed no log recovery, and in boot b /iscsi was unmounted
#     before iscsi-up.service began stopping (the drop-in's record and the journal's order).
#   d (systemd, no target): the boot still reaches multi-user.target and the check, and the
#     journal has one clear iscsi-up line naming the portal it could not reach.
# lab-needs: iscsi-up iscsi-test-target
# lab-boots: a:plain:300 b:systemd:330 c:systemd:330 d:systemd:330
# shellcheck source=SCRIPTDIR/../guest-lib.sh disable=SC2154  # capture PREFIX sets PREFIX_out, PREFIX_err, PREFIX_rc
source "$LAB_DIR/guest-lib.sh"

# The real places, as the unit's daemon uses them.
export ISCSI_UP_CONFIG_DIR=/etc/iscsi-up ISCSI_UP_RUN_DIR=/run/iscsi-up
[[ -n ${LAB_PERSIST:-} ]] || fail "boot-systemd needs LAB_PERSIST (run it with tests/KernelLab/run boot-systemd)"
state=$LAB_PERSIST/state
raid=$LAB_PERSIST/raid
mkdir -p "$state"

# --- boot a: plain init ---------------------------------------------------------------------------
boot_a() {
    rm -rf "${raid:?}" "${state:?}"/*
    step "start iscsi-test-target with its disks on the persistent share ($raid)"
    start_test_target "$raid"

    step "iscsi-up mount -m /iscsi with the real /etc/fstab and /etc/iscsi-up"
    cp -p /etc/fstab /tmp/fstab.before 2> /dev/null || : > /tmp/fstab.before
    capture m iscsi-up mount -T "$IQN_DISK" -p 127.0.0.1 -I "$IQN_CLIENT" -m /iscsi
    ((m_rc == 0)) || fail "iscsi-up mount exited with $m_rc: $m_err"
    assert_contains "$m_out" "Formatted xfs" "output of iscsi-up mount"
    local device uuid line
    device=$(findmnt -n -o SOURCE --mountpoint /iscsi) || fail "/iscsi is not mounted"
    [[ $device == /dev/nbd* ]] || fail "/iscsi is mounted from $device, not /dev/nbdX"
    uuid=$(blkid -p -s UUID -o value "$device")
    line="UUID=$uuid /iscsi xfs defaults,_netdev 0 0"
    # The old content, a newline if it lacked a final one, our line (with or without a final newline).
    { cat /tmp/fstab.before; [[ ! -s /tmp/fstab.before || $(tail -c1 /tmp/fstab.before | od -An -c) == *'\n'* ]] || echo; printf '%s' "$line"; } > /tmp/fstab.expected
    cmp -s /tmp/fstab.expected /etc/fstab || cmp -s <(cat /tmp/fstab.expected; echo) /etc/fstab \
        || fail "/etc/fstab is not the old one plus '$line': $(diff /tmp/fstab.expected /etc/fstab | tr '\n' '|' || true)"
    grep -lqx 'node.startup=automatic' /etc/iscsi-up/nodes/*.node || fail "no automatic node record in /etc/iscsi-up/nodes: $(ls -la /etc/iscsi-up/nodes 2>&1)"
    note "fstab line: $line"

    step "write a file"
    write_payload /iscsi
    cp /tmp/payload.sha256 "$state/payload.sha256"

    step "umount and log out (the plain init has no shutdown sequence of its own), stop the target"
    capture um iscsi-up umount -m /iscsi
    ((um_rc == 0)) || fail "iscsi-up umount exited with $um_rc: $um_err"
    capture lo iscsi-up logout --all
    ((lo_rc == 0)) || fail "iscsi-up logout --all exited with $lo_rc: $lo_err"
    stop_test_target

    step "save /etc/iscsi-up and /etc/fstab for the next boots"
    cp -a /etc/iscsi-up "$state/etc-iscsi-up"
    cp -p /etc/fstab "$state/fstab"
    echo "$uuid" > "$state/uuid"
    for f in "$state"/etc-iscsi-up/nodes/*.node; do note "$f: $(tr '\n' ' ' < "$f")"; done
    touch "$state/a.done"
}

# --- setup phase of the systemd boots (before systemd starts) -------------------------------------
setup_systemd_boot() {
    [[ -f $state/a.done ]] || fail "boot a did not finish: no node record and fstab line to boot with"
    step "restore /etc/iscsi-up and /etc/fstab from boot a"
    rm -rf /etc/iscsi-up
    cp -a "$state/etc-iscsi-up" /etc/iscsi-up
    cp -p "$state/fstab" /etc/fstab
    grep -H . /etc/fstab | sed 's/^/  /'

    step "install packaging/systemd/iscsi-up.service (ExecStart: $LAB_BIN/iscsi-up daemon) and enable it"
    local unit=$LAB_REPO/packaging/systemd/iscsi-up.service
    [[ -f $unit ]] || fail "$unit is missing"
    grep -q '^ExecStart=/usr/bin/iscsi-up ' "$unit" || fail "$unit has no 'ExecStart=/usr/bin/iscsi-up ...' line to point at the lab binary"
    sed "s|^ExecStart=/usr/bin/iscsi-up |ExecStart=$LAB_BIN/iscsi-up |" "$unit" | unit_file iscsi-up.service
    enable_unit iscsi-up.service
    [[ -L /etc/systemd/system/remote-fs.target.wants/iscsi-up.service ]] || fail "systemctl enable did not link iscsi-up.service into remote-fs.target.wants"

    # Records the state of /iscsi and the nbd devices when iscsi-up.service starts and ends stopping.
    mkdir -p /etc/lab
    cat > /etc/lab/witness.sh << EOF
#!/bin/bash
mounted=\$(findmnt -n -o SOURCE,FSTYPE --mountpoint /iscsi || echo "not mounted")
connected=\$(cd /sys/block && ls -d nbd*/pid 2> /dev/null | cut -d/ -f1 | tr '\n' ' ')
echo "lab-witness: iscsi-up.service \$1 at \$(cut -d' ' -f1 /proc/uptime)s: /iscsi \$mounted; connected nbd: \${connected:-none}\${SERVICE_RESULT:+; result \$SERVICE_RESULT, \$EXIT_CODE \$EXIT_STATUS}" | tee -a $state/witness-$LAB_BOOT.log
EOF
    unit_dropin iscsi-up.service lab-witness << 'EOF'
# Kernel lab: record, without changing what the unit does, whether /iscsi is still mounted when
# iscsi-up.service begins to stop (it must not be: _netdev mounts are unmounted first).
[Unit]
RequiresMountsFor=/lab/persist
[Service]
ExecStop=/bin/bash /etc/lab/witness.sh stopping
ExecStopPost=/bin/bash /etc/lab/witness.sh stopped
EOF
}

# The target from the persistent disks, up (listening) before iscsi-up.service starts.
install_target_unit() {
    step "lab-target.service: iscsi-test-target from $raid, before iscsi-up.service"
    unit_file lab-target.service << EOF
[Unit]
Description=Kernel lab: iscsi-test-target on the persistent disks (the storage server)
Before=iscsi-up.service
RequiresMountsFor=/lab/persist /lab/results

[Service]
Type=simple
ExecStart=$LAB_BIN/iscsi-test-target --portal $PORTAL --target $IQN_DISK --acl $IQN_CLIENT --raid5 3+1 --disk-size ${DISK_SIZE_MIB}M --dir $raid
# Not Type=notify: it does not speak sd_notify. Ready once it prints its listening line.
ExecStartPost=/bin/bash -c 'for i in \$\$(seq 600); do grep -q "^listening on " /lab/results/target.out 2> /dev/null && exit 0; sleep 0.1; done; exit 1'
StandardOutput=append:/lab/results/target.out
StandardError=append:/lab/results/target.log

[Install]
WantedBy=multi-user.target
EOF
    enable_unit lab-target.service
}

# --- check phase helpers (under systemd) ----------------------------------------------------------
journal_of() { journalctl -b -o short-monotonic --no-pager "$@" 2>&1; }

save_journal() {
    journal_of > "$LAB_RESULTS/journal.txt"
    note "check started $(cut -d' ' -f1 /proc/uptime)s after the kernel; journal in journal.txt"
    systemctl --failed --no-pager --plain --no-legend 2>&1 | sed 's/^/  failed unit| /'
}

# check_mount: /iscsi is mounted from the session's /dev/nbdX, with boot a's UUID, through udev's link.
check_mount() {
    local uuid mounted device session
    uuid=$(<"$state/uuid")
    step "/iscsi is mounted from /dev/nbdX with UUID=$uuid"
    [[ $(systemctl is-active iscsi-up.service) == active ]] || fail "iscsi-up.service is $(systemctl is-active iscsi-up.service): $(journal_of -u iscsi-up.service | tail -n 5 | tr '\n' '|')"
    mounted=$(findmnt -n -o SOURCE,FSTYPE --mountpoint /iscsi) \
        || fail "/iscsi is not mounted after remote-fs.target (iscsi.mount: $(systemctl is-active iscsi.mount); $(journal_of -u iscsi.mount | tail -n 3 | tr '\n' '|'))"
    device=${mounted%% *}
    note "/iscsi: $mounted"
    [[ $device == /dev/nbd* && $mounted == *" xfs" ]] || fail "/iscsi is '$mounted', expected /dev/nbdX xfs"
    [[ $(blkid -p -s UUID -o value "$device") == "$uuid" ]] || fail "$device carries UUID $(blkid -p -s UUID -o value "$device"), expected $uuid"
    [[ $(readlink -f "/dev/disk/by-uuid/$uuid") == "$device" ]] || fail "/dev/disk/by-uuid/$uuid does not point at $device (udev): $(ls -l /dev/disk/by-uuid 2>&1 | tr '\n' '|')"
    session=$(iscsi-up session 2>&1)
    assert_contains "$session" "$device" "iscsi-up session"
    note "iscsi-up session: $session"
    check_daemon_summary 1
    # Started in the right order: target, iscsi-up (ready), then the mount.
    local t_target t_iscsi t_mount
    t_target=$(systemctl show -P ActiveEnterTimestampMonotonic lab-target.service)
    t_iscsi=$(systemctl show -P ActiveEnterTimestampMonotonic iscsi-up.service)
    t_mount=$(systemctl show -P ActiveEnterTimestampMonotonic iscsi.mount)
    note "active since (monotonic us): lab-target $t_target, iscsi-up $t_iscsi, iscsi.mount $t_mount"
    ((t_target <= t_iscsi && t_iscsi <= t_mount)) || fail "start order is not target, iscsi-up, mount"
}

# check_daemon_summary N: the daemon says N of its 1 node(s) logged in, in the journal and in the
# status it hands to systemd (systemctl status).
check_daemon_summary() {
    local summary status
    summary=$(journalctl -b -u iscsi-up.service -o cat --no-pager | grep -E 'automatic node\(s\) logged in' || true)
    status=$(systemctl show -P StatusText iscsi-up.service)
    note "iscsi-up.service says: '$summary'; StatusText: '$status'"
    [[ $summary == "iscsi-up: $1 of 1 automatic node(s) logged in" ]] \
        || fail_later "the daemon's journal summary is '$summary', expected 'iscsi-up: $1 of 1 automatic node(s) logged in'"
    [[ $status == "$1 of 1 node(s) logged in" ]] \
        || fail_later "iscsi-up.service's StatusText (sd_notify STATUS=) is '$status', expected '$1 of 1 node(s) logged in'"
}

check_file() {
    local name=$1 sums=$2 want got
    want=$(cut -d' ' -f1 "$sums")
    [[ -f /iscsi/$name ]] || fail "/iscsi/$name is missing"
    got=$(sha256sum "/iscsi/$name" | cut -d' ' -f1)
    [[ $got == "$want" ]] || fail "/iscsi/$name: sha256 $got, expected $want"
    note "/iscsi/$name: sha256 matches ($want)"
}

check_b() {
    save_journal
    check_mount
    step "the file from boot a is intact; write a second one"
    check_file payload.bin "$state/payload.sha256"
    head -c 2M /dev/urandom > /iscsi/second.bin
    sync
    (cd /iscsi && sha256sum second.bin) > "$state/second.sha256"
    note "wrote /iscsi/second.bin: $(cut -d' ' -f1 "$state/second.sha256")"
    touch "$state/b.done"
    note "powering off: systemd unmounts /iscsi, then stops iscsi-up.service (checked in boot c)"
}

check_c() {
    save_journal
    [[ -f $state/b.done ]] || fail "boot b did not finish: nothing to check"
    check_mount
    step "both files survived the poweroff"
    check_file payload.bin "$state/payload.sha256"
    check_file second.bin "$state/second.sha256"

    step "the XFS log was clean: this boot's mount replayed nothing"
    local xfs
    xfs=$(dmesg | grep -E 'XFS \(nbd' || true)
    printf '%s\n' "$xfs" | sed 's/^/  dmesg| /'
    assert_not_contains "$xfs" "Starting recovery" "XFS messages of this boot's mount"

    step "boot b's shutdown: /iscsi was unmounted before iscsi-up.service stopped"
    [[ -s $state/witness-b.log ]] || fail "no record from iscsi-up.service's ExecStop in boot b ($state/witness-b.log)"
    sed 's/^/  /' "$state/witness-b.log"
    local stopping stopped
    stopping=$(grep -m1 'iscsi-up.service stopping' "$state/witness-b.log" || true)
    stopped=$(grep -m1 'iscsi-up.service stopped' "$state/witness-b.log" || true)
    [[ -n $stopping ]] || fail "boot b: iscsi-up.service's ExecStop never ran"
    assert_contains "$stopping" "/iscsi not mounted" "boot b: state when iscsi-up.service began stopping"
    [[ -n $stopped ]] || fail "boot b: iscsi-up.service's ExecStopPost never ran"
    assert_contains "$stopped" "connected nbd: none" "boot b: state when iscsi-up.service had stopped"
    assert_contains "$stopped" "result success" "boot b: iscsi-up.service's stop"
    # The journal (forwarded to boot b's console) shows the same order.
    local console=$LAB_PERSIST/console-b.log unmounted stopping_line
    if [[ -f $console ]]; then
        unmounted=$(grep -a -n -m1 -E 'Unmounted iscsi.mount|Unmounted /iscsi' "$console" | cut -d: -f1 || true)
        stopping_line=$(grep -a -n -m1 -E 'Stopping iscsi-up.service' "$console" | cut -d: -f1 || true)
        note "boot b console: 'Unmounted iscsi.mount' at line ${unmounted:-none}, 'Stopping iscsi-up.service' at line ${stopping_line:-none}"
        [[ -n $unmounted && -n $stopping_line ]] && ((unmounted < stopping_line)) \
            || fail "boot b's console does not show /iscsi unmounted before iscsi-up.service stopping"
        local errors
        errors=$(grep -a -E 'nbd[0-9]+.*(I/O error|Connection timed out|Dead connection)|XFS \(nbd.*(error|Corruption|shutdown)|blk_update_request' "$console" | head -n 5 || true)
        [[ -z $errors ]] || fail "boot b's console has I/O errors: $(tr '\n' '|' <<< "$errors")"
    else
        fail_later "$console is missing (run copies each boot's console there)"
    fi
}

check_d() {
    save_journal
    [[ -f $state/a.done ]] || fail "boot a did not finish: no node to fail on"
    local up
    up=$(cut -d. -f1 /proc/uptime)
    step "no target: the boot still reached multi-user.target and this check (${up}s after the kernel started)"
    [[ $(systemctl is-active multi-user.target) == active ]] || fail "multi-user.target is $(systemctl is-active multi-user.target)"
    # The daemon gives up after ~60 s of retries; the mount unit waits for its device for systemd's
    # default 90 s (x-systemd.device-timeout), counted from the start of the boot.
    ((up < 240)) || fail_later "multi-user.target and remote-fs.target took ${up}s after the kernel started (limit 240 s)"
    note "iscsi-up.service: $(systemctl is-active iscsi-up.service); iscsi.mount: $(systemctl is-active iscsi.mount); remote-fs.target: $(systemctl is-active remote-fs.target)"
    ! mountpoint -q /iscsi || fail "/iscsi is mounted although the target is down"

    step "the journal names the unreachable portal in one clear iscsi-up line"
    local journal skipped
    journal=$(journalctl -b -u iscsi-up.service -o cat --no-pager)
    printf '%s\n' "$journal" | sed 's/^/  journal| /'
    skipped=$(grep -E '^iscsi-up: .*(skipped|failed|cannot|unreachable)' <<< "$journal" | grep -F '127.0.0.1:3260' | grep -iv 'attempt [0-9]' || true)
    [[ -n $skipped ]] || fail "iscsi-up.service logged no final error naming 127.0.0.1:3260"
    (($(grep -c . <<< "$skipped") == 1)) || fail "expected one final error line for the node, got: $(tr '\n' '|' <<< "$skipped")"
    assert_one_line "$skipped" "iscsi-up's error for the unreachable node"
    note "the line: $skipped"
    check_daemon_summary 0
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:main) boot_a ;;
    b:setup | c:setup) setup_systemd_boot; install_target_unit ;;
    d:setup) setup_systemd_boot ;;
    b:check) check_b ;;
    c:check) check_c ;;
    d:check) check_d ;;
    *) fail "boot-systemd has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run boot-systemd)" ;;
esac
