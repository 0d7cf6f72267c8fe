#!/usr/bin/env bash
# boot-systemd: "set up a node and an fstab line, reboot, the mount is there with the data; write,
# power off, boot again: the write survived" -- with systemd as PID 1 and the product's own units
# (packaging/systemd/: iscsi-upd.socket and iscsi-upd.service, the daemon that holds the sessions;
# iscsi-up.service, the boot unit running `iscsi-up login --automatic`; ExecStart pointed at the
# lab's binary), across boots that share /lab/persist (the target's member disks and what each boot
# leaves for the next):
#   a (plain init): iscsi-test-target --dir /lab/persist/raid --luns 2; `iscsi-up mount -m /iscsi`
#     with the real /etc/fstab and /etc/iscsi-up of the overlay: formats LUN 0, mounts, one fstab line,
#     an automatic node; write a file. LUN 1 (logged in too) gets ext4, a file, and an fstab line by
#     its udev name, /dev/disk/by-path/ip-127.0.0.1:3260-iscsi-IQN-lun-1 /data ext4 _netdev, as an
#     open-iscsi user's fstab has; umount, logout; save /etc/iscsi-up and /etc/fstab.
#   b (systemd): /etc/iscsi-up and /etc/fstab restored; lab-target.service runs the target from
#     the persistent disks before iscsi-up.service; iscsi-up.service and iscsi-upd.socket enabled
#     with `systemctl enable`. After remote-fs.target: /iscsi is mounted from /dev/nbdX with the
#     right UUID (by udev's /dev/disk/by-uuid link), and /data from LUN 1's /dev/nbdX through its
#     by-path name (the package's udev rule), the files are intact; write a second file; clean
#     poweroff. A drop-in on iscsi-upd.service records (ExecStop) whether /iscsi was still mounted
#     when the daemon began to stop.
#   c (systemd): both files intact, XFS needed no log recovery, and in boot b /iscsi was unmounted
#     before iscsi-upd.service began stopping (the drop-in's record and the journal's order).
#   d (systemd, no target): the boot still reaches multi-user.target and the check, and the
#     journal has one clear iscsi-up line naming the portal it could not reach.
#   e (systemd, wrong CHAP secret): the target now wants CHAP and the node's secret is wrong: one
#     clear "authentication failure" line at once (no pointless retries), the boot completes.
#   f (systemd, no network: loopback down before iscsi-up.service): one clear "cannot connect"
#     line after the retries, the boot completes.
# lab-needs: iscsi-up iscsi-test-target
# lab-boots: a:plain:300 b:systemd:330 c:systemd:330 d:systemd:330 e:systemd:300 f:systemd:330
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
    step "start iscsi-test-target with its disks on the persistent share ($raid), LUNs 0 and 1"
    start_test_target "$raid" --luns 2

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

    local lun1 by_path
    step "LUN 1: ext4, a file, and an fstab line by its by-path name"
    lun1=$(iscsi-up session | sed -n "s|^\[[0-9]*\] .* $IQN_DISK lun 1 \(/dev/nbd[0-9]*\) .*|\1|p")
    [[ -b $lun1 ]] || fail "iscsi-up session shows no kernel device for LUN 1: $(iscsi-up session 2>&1)"
    run mkfs.ext4 -q "$lun1"
    mkdir -p /data
    run mount "$lun1" /data
    head -c 1M /dev/urandom > /data/lun1.bin
    (cd /data && sha256sum lun1.bin) > "$state/lun1.sha256"
    run umount /data
    by_path="/dev/disk/by-path/ip-$PORTAL-iscsi-$IQN_DISK-lun-1 /data ext4 defaults,_netdev 0 0"
    [[ -z $(tail -c1 /etc/fstab) ]] || echo >> /etc/fstab
    echo "$by_path" >> /etc/fstab
    note "fstab line: $by_path"

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
    mkdir -p /data /etc/udev/rules.d
    sed "s|/usr/bin/iscsi-up |$LAB_BIN/iscsi-up |g" "$LAB_REPO/packaging/udev/59-iscsi-up.rules" > /etc/udev/rules.d/59-iscsi-up.rules

    step "install packaging/systemd's units (ExecStart: $LAB_BIN/iscsi-up ...) and enable them"
    local unit
    for unit in iscsi-upd.socket iscsi-upd.service iscsi-up.service; do
        [[ -f $LAB_REPO/packaging/systemd/$unit ]] || fail "packaging/systemd/$unit is missing"
        sed "s|^ExecStart=/usr/bin/iscsi-up |ExecStart=$LAB_BIN/iscsi-up |" "$LAB_REPO/packaging/systemd/$unit" | unit_file "$unit"
    done
    grep -q "^ExecStart=$LAB_BIN/iscsi-up daemon" /etc/systemd/system/iscsi-upd.service || fail "iscsi-upd.service does not run 'iscsi-up daemon'"
    grep -q "^ExecStart=$LAB_BIN/iscsi-up login --automatic" /etc/systemd/system/iscsi-up.service || fail "iscsi-up.service does not run 'iscsi-up login --automatic'"
    enable_unit iscsi-up.service iscsi-upd.socket
    [[ -L /etc/systemd/system/remote-fs.target.wants/iscsi-up.service ]] || fail "systemctl enable did not link iscsi-up.service into remote-fs.target.wants"
    [[ -L /etc/systemd/system/sockets.target.wants/iscsi-upd.socket ]] || fail "systemctl enable did not link iscsi-upd.socket into sockets.target.wants"

    # Records the state of /iscsi and the nbd devices when iscsi-up.service starts and ends stopping.
    mkdir -p /etc/lab
    cat > /etc/lab/witness.sh << EOF
#!/bin/bash
mounted=\$(findmnt -n -o SOURCE,FSTYPE --mountpoint /iscsi || echo "not mounted")
connected=\$(cd /sys/block && ls -d nbd*/pid 2> /dev/null | cut -d/ -f1 | tr '\n' ' ')
echo "lab-witness: iscsi-upd.service \$1 at \$(cut -d' ' -f1 /proc/uptime)s: /iscsi \$mounted; connected nbd: \${connected:-none}\${SERVICE_RESULT:+; result \$SERVICE_RESULT, \$EXIT_CODE \$EXIT_STATUS}" | tee -a $state/witness-$LAB_BOOT.log
EOF
    unit_dropin iscsi-upd.service lab-witness << 'EOF'
# Kernel lab: record, without changing what the unit does, whether /iscsi is still mounted when
# the daemon begins to stop (it must not be: _netdev mounts are unmounted first).
[Unit]
RequiresMountsFor=/lab/persist
[Service]
ExecStop=/bin/bash /etc/lab/witness.sh stopping
ExecStopPost=/bin/bash /etc/lab/witness.sh stopped
EOF
}

# The target from the persistent disks, up (listening) before iscsi-up.service starts; with CHAP
# arguments when given (install_target_unit --chap-user U --chap-secret-file F).
install_target_unit() {
    step "lab-target.service: iscsi-test-target from $raid, before iscsi-up.service${*:+ ($*)}"
    unit_file lab-target.service << EOF
[Unit]
Description=Kernel lab: iscsi-test-target on the persistent disks (the storage server)
Before=iscsi-up.service iscsi-upd.service
RequiresMountsFor=/lab/persist /lab/results

[Service]
Type=simple
ExecStart=$LAB_BIN/iscsi-test-target --portal $PORTAL --target $IQN_DISK --acl $IQN_CLIENT --raid5 3+1 --disk-size ${DISK_SIZE_MIB}M --dir $raid --luns 2 $*
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
    [[ $(systemctl is-active iscsi-upd.service) == active ]] || fail "iscsi-upd.service is $(systemctl is-active iscsi-upd.service): $(journal_of -u iscsi-upd.service | tail -n 5 | tr '\n' '|')"
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
    check_by_path_mount
    # Started in the right order: target, iscsi-up (ready), then the mount.
    local t_target t_iscsi t_mount
    t_target=$(systemctl show -P ActiveEnterTimestampMonotonic lab-target.service)
    t_iscsi=$(systemctl show -P ActiveEnterTimestampMonotonic iscsi-up.service)
    t_mount=$(systemctl show -P ActiveEnterTimestampMonotonic iscsi.mount)
    note "active since (monotonic us): lab-target $t_target, iscsi-up $t_iscsi, iscsi.mount $t_mount"
    ((t_target <= t_iscsi && t_iscsi <= t_mount)) || fail "start order is not target, iscsi-up, mount"
}

# check_by_path_mount: /data is mounted from LUN 1's /dev/nbdX through the fstab line by its by-path name,
# which udev made with the package's rule, and holds boot a's file.
check_by_path_mount() {
    local link=/dev/disk/by-path/ip-$PORTAL-iscsi-$IQN_DISK-lun-1 device mounted want
    step "/data is mounted from LUN 1 through $link"
    device=$(iscsi-up session | sed -n "s|^\[[0-9]*\] .* $IQN_DISK lun 1 \(/dev/nbd[0-9]*\) .*|\1|p")
    [[ -b $device ]] || fail "iscsi-up session shows no kernel device for LUN 1: $(iscsi-up session 2>&1)"
    [[ $(readlink -f "$link") == "$device" ]] || fail "$link leads to '$(readlink -f "$link")', not LUN 1's $device: $(ls -l /dev/disk/by-path 2>&1 | tr '\n' '|')"
    mounted=$(findmnt -n -o SOURCE,FSTYPE --mountpoint /data) \
        || fail "/data is not mounted after remote-fs.target (data.mount: $(systemctl is-active data.mount); $(journal_of -u data.mount | tail -n 3 | tr '\n' '|'))"
    [[ $mounted == "$device ext4" ]] || fail "/data is '$mounted', expected '$device ext4'"
    want=$(cut -d' ' -f1 "$state/lun1.sha256")
    [[ $(sha256sum /data/lun1.bin | cut -d' ' -f1) == "$want" ]] || fail "/data/lun1.bin does not have boot a's checksum"
    note "/data: $mounted through $link; lun1.bin intact"
}

# check_daemon_summary N: the boot unit says N of its 1 node(s) logged in, in the journal; the daemon
# holds N session(s), in the status it hands to systemd (systemctl status iscsi-upd.service).
check_daemon_summary() {
    local summary status
    summary=$(journalctl -b -u iscsi-up.service -o cat --no-pager | grep -E 'automatic node\(s\) logged in' || true)
    status=$(systemctl show -P StatusText iscsi-upd.service)
    note "iscsi-up.service says: '$summary'; iscsi-upd.service's StatusText: '$status'"
    [[ $summary == "iscsi-up: $1 of 1 automatic node(s) logged in" ]] \
        || fail_later "iscsi-up.service's journal summary is '$summary', expected 'iscsi-up: $1 of 1 automatic node(s) logged in'"
    [[ $status == "$1 session(s)" ]] \
        || fail_later "iscsi-upd.service's StatusText (sd_notify STATUS=) is '$status', expected '$1 session(s)'"
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
    note "powering off: systemd unmounts /iscsi, then stops iscsi-upd.service (checked in boot c)"
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

    step "boot b's shutdown: /iscsi was unmounted before iscsi-upd.service stopped"
    [[ -s $state/witness-b.log ]] || fail "no record from iscsi-upd.service's ExecStop in boot b ($state/witness-b.log)"
    sed 's/^/  /' "$state/witness-b.log"
    local stopping stopped
    stopping=$(grep -m1 'iscsi-upd.service stopping' "$state/witness-b.log" || true)
    stopped=$(grep -m1 'iscsi-upd.service stopped' "$state/witness-b.log" || true)
    [[ -n $stopping ]] || fail "boot b: iscsi-upd.service's ExecStop never ran"
    assert_contains "$stopping" "/iscsi not mounted" "boot b: state when iscsi-upd.service began stopping"
    [[ -n $stopped ]] || fail "boot b: iscsi-upd.service's ExecStopPost never ran"
    assert_contains "$stopped" "connected nbd: none" "boot b: state when iscsi-upd.service had stopped"
    assert_contains "$stopped" "result success" "boot b: iscsi-upd.service's stop"
    # The journal (forwarded to boot b's console) shows the same order.
    local console=$LAB_PERSIST/console-b.log unmounted stopping_line
    if [[ -f $console ]]; then
        unmounted=$(grep -a -n -m1 -E 'Unmounted iscsi.mount|Unmounted /iscsi' "$console" | cut -d: -f1 || true)
        stopping_line=$(grep -a -n -m1 -E 'Stopping iscsi-upd.service' "$console" | cut -d: -f1 || true)
        note "boot b console: 'Unmounted iscsi.mount' at line ${unmounted:-none}, 'Stopping iscsi-upd.service' at line ${stopping_line:-none}"
        [[ -n $unmounted && -n $stopping_line ]] && ((unmounted < stopping_line)) \
            || fail "boot b's console does not show /iscsi unmounted before iscsi-upd.service stopping"
        local errors
        errors=$(grep -a -E 'nbd[0-9]+.*(I/O error|Connection timed out|Dead connection)|XFS \(nbd.*(error|Corruption|shutdown)|blk_update_request' "$console" | head -n 5 || true)
        [[ -z $errors ]] || fail "boot b's console has I/O errors: $(tr '\n' '|' <<< "$errors")"
    else
        fail_later "$console is missing (run copies each boot's console there)"
    fi
}

# check_boot_completes_without_the_node PATTERN WHAT: the boot reached multi-user.target and this
# check in time, /iscsi is not mounted, iscsi-up.service failed, and its journal has exactly one final
# error line for the node: naming the portal and matching PATTERN.
check_boot_completes_without_the_node() {
    local pattern=$1 what=$2 up journal final
    # The check starts once remote-fs.target is done, which a _netdev mount without its device fails
    # after 90 s; the boot unit may still be retrying then. It must end by itself, and in time.
    local deadline=$((SECONDS + 150))
    while [[ $(systemctl is-active iscsi-up.service) == activating ]] && ((SECONDS < deadline)); do sleep 2; done
    up=$(cut -d. -f1 /proc/uptime)
    step "$what: the boot still reached multi-user.target and this check (${up}s after the kernel started)"
    [[ $(systemctl is-active multi-user.target) == active ]] || fail "multi-user.target is $(systemctl is-active multi-user.target)"
    # The boot unit gives up after ~60 s of retries; the mount unit waits for its device for systemd's
    # default 90 s (x-systemd.device-timeout), counted from the start of the boot.
    ((up < 260)) || fail_later "the boot and iscsi-up.service's retries took ${up}s after the kernel started (limit 260 s)"
    note "iscsi-up.service: $(systemctl is-active iscsi-up.service); iscsi-upd.service: $(systemctl is-active iscsi-upd.service); iscsi.mount: $(systemctl is-active iscsi.mount); remote-fs.target: $(systemctl is-active remote-fs.target)"
    ! mountpoint -q /iscsi || fail "/iscsi is mounted although the node could not log in"
    [[ $(systemctl is-failed iscsi-up.service) == failed ]] \
        || fail_later "iscsi-up.service is $(systemctl is-failed iscsi-up.service), expected failed (systemctl --failed names the unit whose node did not come up)"

    step "the journal names the portal and the cause in one clear iscsi-up line"
    journal=$(journalctl -b -u iscsi-up.service -u iscsi-upd.service -o cat --no-pager)
    printf '%s\n' "$journal" | sed 's/^/  journal| /'
    final=$(grep -E '^iscsi-up: .*skipped' <<< "$journal" | grep -F '127.0.0.1:3260' || true)
    [[ -n $final ]] || fail "iscsi-up.service logged no final error naming 127.0.0.1:3260"
    (($(grep -c . <<< "$final") == 1)) || fail "expected one final error line for the node, got: $(tr '\n' '|' <<< "$final")"
    assert_one_line "$final" "iscsi-up's error for the node"
    grep -qE "$pattern" <<< "$final" || fail "the final line does not say $what ($pattern): $final"
    note "the line: $final"
    check_daemon_summary 0
}

check_d() {
    save_journal
    [[ -f $state/a.done ]] || fail "boot a did not finish: no node to fail on"
    check_boot_completes_without_the_node 'cannot connect to portal 127\.0\.0\.1:3260: connection refused' "no target"
}

# --- boot e: the target wants CHAP, the node has a wrong secret ------------------------------------
setup_e() {
    setup_systemd_boot
    step "the target requires CHAP user lab; the node gets the user and a wrong secret (iscsi-up node)"
    mkdir -p /etc/lab
    (umask 077 && echo "the-right-secret-1" > /etc/lab/target-secret && echo "a-wrong-secret-2" > /tmp/wrong-secret)
    capture n iscsi-up node -T "$IQN_DISK" -p "$PORTAL" --chap-user lab --chap-secret-file /tmp/wrong-secret
    ((n_rc == 0)) || fail "iscsi-up node --chap-user exited with $n_rc: $n_err"
    assert_contains "$n_out" "chap=lab" "iscsi-up node's listing"
    assert_not_contains "$n_out$(cat /etc/iscsi-up/nodes/*.node)" "a-wrong-secret" "the node listing and record"
    install_target_unit --chap-user lab --chap-secret-file /etc/lab/target-secret
}

check_e() {
    save_journal
    check_boot_completes_without_the_node 'authentication failure' "a wrong CHAP secret"
    local retries
    retries=$(journalctl -b -u iscsi-up.service -o cat --no-pager | grep -c 'attempt [0-9]' || true)
    ((retries == 0)) || fail_later "a wrong secret was retried $retries time(s): it cannot pass by waiting"
    assert_not_contains "$(journalctl -b -o cat --no-pager)" "a-wrong-secret" "the journal"
}

# --- boot f: no network (loopback down before the boot unit runs) ---------------------------------
setup_f() {
    setup_systemd_boot
    step "lab-no-network.service: loopback down before iscsi-up.service (as if the network never came up)"
    unit_file lab-no-network.service << 'EOF'
[Unit]
Description=Kernel lab: take the only network (loopback) down before iscsi-up.service
DefaultDependencies=no
Before=network-online.target iscsi-up.service iscsi-upd.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/ip link set lo down

[Install]
WantedBy=multi-user.target
EOF
    enable_unit lab-no-network.service
}

check_f() {
    save_journal
    note "lo: $(ip -br link show lo 2>&1)"
    # Loopback down drops the packets: the connection attempt times out (a host whose network has no route
    # to the portal gets "network unreachable" at once instead).
    check_boot_completes_without_the_node 'cannot connect to portal 127\.0\.0\.1:3260: (no answer within|network unreachable)' "no network"
    local retries
    retries=$(journalctl -b -u iscsi-up.service -o cat --no-pager | grep -c 'attempt [0-9] of 5 failed' || true)
    ((retries == 4)) || fail_later "expected 4 retry lines before giving up, got $retries"
}

case ${LAB_BOOT:-main}:${LAB_PHASE:-main} in
    a:main) boot_a ;;
    b:setup | c:setup) setup_systemd_boot; install_target_unit ;;
    d:setup) setup_systemd_boot ;;
    e:setup) setup_e ;;
    f:setup) setup_f ;;
    b:check) check_b ;;
    c:check) check_c ;;
    d:check) check_d ;;
    e:check) check_e ;;
    f:check) check_f ;;
    *) fail "boot-systemd has nothing to do in boot ${LAB_BOOT:-main}, phase ${LAB_PHASE:-main} (run it with tests/KernelLab/run boot-systemd)" ;;
esac
