#!/bin/bash
# systemd-boot.sh: what the guest's overlay root needs to boot systemd as PID 1 (LAB_INIT=systemd).
#
#   systemd-boot.sh host DIR TIMEOUT    on the host, by run-vm.sh: writes DIR/etc/... (below) and
#                                       the same as DIR/etc.tar
#   systemd-boot.sh guest DIR           in the guest, by initramfs/stage2 after the scenario's setup
#                                       phase, right before `exec /lib/systemd/systemd`: unpacks
#                                       DIR/etc.tar into /etc without overwriting what the setup
#                                       phase wrote, and unmasks the units named in /etc/lab/keep-units
#
# The tree is computed on the host because the guest's root is the host's / and every fork in the
# guest costs ~0.1 s under TCG (computing it in the guest took 15 s). It holds:
#   - default.target -> multi-user.target; journald keeps its journal in /run and forwards
#     everything to the serial console (console.log holds the whole journal, shutdown included);
#   - lab-check.service (After=multi-user.target remote-fs.target) runs the scenario's check phase
#     through `/lab/stage2 check`, which records output.log and status; then systemd powers off
#     cleanly (SuccessAction=, FailureAction=);
#   - lab-watchdog.service prints "lab-watchdog: ..." on the console and forces a poweroff when the
#     guest is still up TIMEOUT seconds after the kernel started (run-vm.sh turns that line into
#     status 124): a boot or a shutdown that hangs;
#   - masks (links to /dev/null) for every unit the host image enables (everything in a *.wants/
#     or *.requires/ directory of a target, except targets) and a list of known slow or unwanted
#     units, except the allowlist below; and every generator except the fstab generator (the
#     sysv generator would start tgt, postgresql, nbd-client... from /etc/init.d, the getty
#     generator a serial getty on the console). This is what makes a boot under TCG take
#     ~25 s instead of ~2 min.
set -euo pipefail

mode=${1:?usage: systemd-boot.sh host DIR TIMEOUT | guest DIR}
dir=${2:?usage: systemd-boot.sh host DIR TIMEOUT | guest DIR}

if [[ $mode == guest ]]; then
    say() { echo "systemd-boot [$(cut -d' ' -f1 /proc/uptime)s]: $*"; }
    [[ -f $dir/etc.tar ]] || { echo "FAIL: systemd-boot.sh: no $dir/etc.tar (run-vm.sh writes it for LAB_INIT=systemd)"; exit 1; }
    # One file over 9p instead of a tree. --skip-old-files: a unit the scenario's setup phase
    # wrote wins over a mask of the same name.
    tar -xf "$dir/etc.tar" -C / --skip-old-files
    if [[ -f /etc/lab/keep-units ]]; then
        while read -r u; do
            [[ -n $u && $u != \#* && -L /etc/systemd/system/$u ]] || continue
            [[ $(readlink "/etc/systemd/system/$u") == /dev/null ]] && rm "/etc/systemd/system/$u" && say "kept $u"
        done < /etc/lab/keep-units
    fi
    [[ -s /etc/machine-id ]] || systemd-machine-id-setup > /dev/null
    # The host's / may be a container image: without this systemd believes it runs in docker
    # (container mode: other conditions, other shutdown) although it is PID 1 of a VM.
    rm -f /.dockerenv
    say "ready: $(cat "$dir/summary")"
    exit 0
fi

[[ $mode == host ]] || { echo "systemd-boot.sh: unknown mode $mode" >&2; exit 2; }
timeout=${3:?usage: systemd-boot.sh host DIR TIMEOUT}
rm -rf "$dir"
etc=$dir/etc
unitdir=$etc/systemd/system
mkdir -p "$unitdir" "$etc/systemd/system-generators" "$etc/systemd/journald.conf.d" "$etc/systemd/system.conf.d" "$etc/lab"

# --- what stays ---------------------------------------------------------------------------------
declare -A keep=()
for u in \
    systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket \
    systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket systemd-udev-trigger.service \
    systemd-tmpfiles-setup.service lab-check.service lab-watchdog.service; do
    # journal (to the console) and udev (the /dev/disk/by-uuid links _netdev mounts wait for)
    keep[$u]=1
done

for gdir in /lib/systemd/system-generators /usr/lib/systemd/system-generators /usr/local/lib/systemd/system-generators; do
    [[ -d $gdir ]] || continue
    for g in "$gdir"/*; do
        [[ ${g##*/} == systemd-fstab-generator ]] || ln -sfn /dev/null "$etc/systemd/system-generators/${g##*/}"
    done
done

declare -A masks=()
for sdir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
    for w in "$sdir"/*.target.wants "$sdir"/*.target.requires; do
        [[ -d $w ]] || continue
        for u in "$w"/*; do
            u=${u##*/}
            [[ $u == *.target || $u == "*" ]] || masks[$u]=1
        done
    done
done
# Not in any *.wants/ but started anyway on some images, or slow under TCG.
for u in getty.target serial-getty@ttyS0.service getty@tty1.service console-getty.service \
     systemd-remount-fs.service systemd-hwdb-update.service ldconfig.service systemd-update-done.service \
     systemd-journal-catalog-update.service systemd-journal-flush.service systemd-fsck-root.service \
     systemd-networkd-wait-online.service NetworkManager-wait-online.service ifupdown-wait-online.service \
     networking.service systemd-networkd.service NetworkManager.service \
     nbd-client.service iscsid.service iscsid.socket open-iscsi.service tgt.service \
     mdadm-shutdown.service mdmonitor.service mdadm.service postgresql.service \
     dbus.service dbus.socket systemd-logind.service systemd-timesyncd.service \
     systemd-tmpfiles-clean.timer systemd-tmpfiles-setup-dev.service kmod-static-nodes.service \
     systemd-modules-load.service systemd-sysctl.service systemd-random-seed.service \
     systemd-update-utmp.service systemd-update-utmp-runlevel.service systemd-ask-password-console.path \
     systemd-ask-password-wall.path systemd-user-sessions.service systemd-pstore.service \
     systemd-boot-system-token.service systemd-firstboot.service systemd-sysusers.service; do
    masks[$u]=1
done
n=0
for u in "${!masks[@]}"; do
    [[ -n ${keep[$u]:-} ]] && continue
    ln -sfn /dev/null "$unitdir/$u"
    n=$((n + 1))
done
ln -sfn /lib/systemd/system/multi-user.target "$unitdir/default.target"

# --- journal and console ------------------------------------------------------------------------
cat > "$etc/systemd/journald.conf.d/lab.conf" << 'EOF'
[Journal]
Storage=volatile
ForwardToConsole=yes
TTYPath=/dev/console
MaxLevelConsole=info
RateLimitBurst=0
EOF
cat > "$etc/systemd/system.conf.d/lab.conf" << 'EOF'
[Manager]
ShowStatus=yes
LogColor=no
EOF

# --- the lab's own units ------------------------------------------------------------------------
# lab-check: the scenario's check phase, once the system is up (a scenario may add ordering with a
# drop-in in lab-check.service.d/).
cat > "$unitdir/lab-check.service" << 'EOF'
[Unit]
Description=Kernel lab: the scenario's checks (then power off)
After=multi-user.target remote-fs.target
RequiresMountsFor=/lab/results
SuccessAction=poweroff
FailureAction=poweroff

[Service]
Type=oneshot
ExecStart=/lab/stage2 check
StandardOutput=journal+console
StandardError=inherit
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
mkdir -p "$unitdir/multi-user.target.wants"
ln -sfn ../lab-check.service "$unitdir/multi-user.target.wants/lab-check.service"

cat > "$etc/lab/watchdog.sh" << EOF
#!/bin/bash
while (( \$(cut -d. -f1 /proc/uptime) < $timeout )); do sleep 2; done
echo "lab-watchdog: the guest is still up ${timeout}s after boot; jobs and failed units follow, then a forced poweroff" > /dev/console
timeout 10 systemctl list-jobs --no-pager > /dev/console 2>&1
timeout 10 systemctl --failed --no-pager > /dev/console 2>&1
[[ -s /lab/results/status ]] || echo 124 > /lab/results/status
sync
timeout 10 systemctl poweroff -ff
echo o > /proc/sysrq-trigger
EOF
# No default dependencies: it is not stopped at shutdown, so it also catches a shutdown that hangs.
cat > "$unitdir/lab-watchdog.service" << EOF
[Unit]
Description=Kernel lab: force a poweroff ${timeout}s after boot
DefaultDependencies=no

[Service]
Type=simple
ExecStart=/bin/bash /etc/lab/watchdog.sh

[Install]
WantedBy=sysinit.target
EOF
mkdir -p "$unitdir/sysinit.target.wants"
ln -sfn ../lab-watchdog.service "$unitdir/sysinit.target.wants/lab-watchdog.service"
# Files and links only: the guest's existing directories keep their owner and mode.
(cd "$dir" && find etc ! -type d -print0 | tar --null -T - -cf etc.tar)
echo "default.target multi-user.target, $n units and $(find "$etc/systemd/system-generators" -type l | wc -l) generators masked, lab-check.service, lab-watchdog.service (${timeout}s)" > "$dir/summary"
