#!/usr/bin/env bash
# bench/kernel-guest.sh: the guest half of bench/kernel (runs inside the kernel lab's VM as root).
# One LIO ramdisk LUN on 127.0.0.1:3260 with an ACL for each of three initiators, each giving the kernel
# a block device for the same LUN:
#   open-iscsi   iscsid + iscsi_tcp        /dev/sdX   (the kernel's own initiator)
#   iscsi-up     iscsi-up login            /dev/nbdX  (netlink, our NBD server, our initiator)
#   qemu-nbd     qemu-nbd -c, libiscsi     /dev/nbdY  (ioctl attach, qemu's iscsi driver)
# Then the same fio jobs on the three, taking turns job by job (the order rotates each round), and a
# buffered write through XFS on each. Raw results go to $LAB_RESULTS/results.txt, one line per run:
#   ROUND JOB INITIATOR MBPS IOPS
# Parameters come from $LAB_RESULTS/params (SECONDS_PER_JOB, ROUNDS), written by bench/kernel.
# shellcheck source=SCRIPTDIR/../tests/KernelLab/guest-lib.sh disable=SC2154
source "$LAB_DIR/guest-lib.sh"
# shellcheck source=/dev/null
source "$LAB_RESULTS/params"

readonly IQN_OPENISCSI=iqn.2026-11.org.iscsi-up.bench:open-iscsi
readonly IQN_OURS=iqn.2026-11.org.iscsi-up.bench:iscsi-up
readonly IQN_QEMU=iqn.2026-11.org.iscsi-up.bench:qemu
readonly LUN_MIB=512   # mkfs.xfs wants at least 300 MiB; the guest has 2 GiB
readonly REGION=384M   # the part of the LUN the raw jobs touch (the XFS job formats the whole LUN)

step "LIO: ramdisk backstore rd0 ($LUN_MIB MiB), target $IQN_LIO, three ACLs, portal $PORTAL"
mkdir -p /run/dbus
run dbus-daemon --system --fork
tpg=/iscsi/$IQN_LIO/tpg1
run targetcli /backstores/ramdisk create rd0 "${LUN_MIB}M"
run targetcli /iscsi create "$IQN_LIO"
run targetcli "$tpg/luns" create /backstores/ramdisk/rd0
for iqn in "$IQN_OPENISCSI" "$IQN_OURS" "$IQN_QEMU"; do run targetcli "$tpg/acls" create "$iqn"; done
run targetcli "$tpg/portals" delete 0.0.0.0 3260
run targetcli "$tpg/portals" create 127.0.0.1 3260

step "open-iscsi: iscsid, discovery, login as $IQN_OPENISCSI"
start_iscsid "$IQN_OPENISCSI"
run iscsiadm -m discovery -t st -p 127.0.0.1
run iscsiadm -m node -T "$IQN_LIO" -p 127.0.0.1 --login
scsi_disk() { local b; for b in /sys/class/scsi_disk/*/device/block/*; do [[ -e $b ]] && basename "$b"; done; return 0; }
wait_for 60 "open-iscsi's SCSI disk" test -n "$(scsi_disk)"
sd=/dev/$(scsi_disk | head -n1)
wait_for 30 "$sd" test -b "$sd"

step "iscsi-up: login as $IQN_OURS with a kernel device"
iscsi_up_login_device "$IQN_LIO" "$IQN_OURS"
ours=$LOGIN_DEVICE
at_exit 'iscsi-up logout --all > /dev/null 2>&1'

step "qemu-nbd -c: qemu's iscsi driver as $IQN_QEMU"
free_nbd() { local i; for i in $(seq 0 15); do [[ -e /sys/block/nbd$i/pid ]] || { echo "/dev/nbd$i"; return; }; done; }
qemu_dev=$(free_nbd)
run qemu-nbd --fork -c "$qemu_dev" --image-opts \
    "driver=iscsi,transport=tcp,portal=127.0.0.1:3260,target=$IQN_LIO,lun=0,initiator-name=$IQN_QEMU"
at_exit "qemu-nbd -d $qemu_dev > /dev/null 2>&1"
wait_for 30 "$qemu_dev to connect" test -e "/sys/block/${qemu_dev#/dev/}/pid"

declare -A device=([open-iscsi]=$sd [iscsi-up]=$ours [qemu-nbd]=$qemu_dev)
initiators=(open-iscsi iscsi-up qemu-nbd)
for name in "${initiators[@]}"; do
    note "$name: ${device[$name]}, $(blockdev --getsize64 "${device[$name]}") bytes, max_sectors_kb $(cat "/sys/block/${device[$name]#/dev/}/queue/max_sectors_kb")"
done

# Jobs: NAME and fio options. Direct I/O with libaio on the raw device.
declare -A job=(
    [seq-read-1M-qd8]="--rw=read --bs=1M --iodepth=8"
    [seq-write-1M-qd8]="--rw=write --bs=1M --iodepth=8"
    [rand-read-4k-qd32]="--rw=randread --bs=4k --iodepth=32"
    [rand-write-4k-qd32]="--rw=randwrite --bs=4k --iodepth=32"
    [rand-rw70-4k-qd32]="--rw=randrw --rwmixread=70 --bs=4k --iodepth=32"
)
jobs=(seq-read-1M-qd8 seq-write-1M-qd8 rand-read-4k-qd32 rand-write-4k-qd32 rand-rw70-4k-qd32)

# fio's terse output (version 3): field 7/8 are read KiB/s and IOPS, 48/49 the same for writes.
record() { # ROUND JOB INITIATOR TERSE
    awk -F';' -v r="$1" -v j="$2" -v i="$3" \
        '{ printf "%s %s %s %.1f %.0f\n", r, j, i, ($7 + $48) / 1024, $8 + $49 }' <<< "$4" | tee -a "$LAB_RESULTS/results.txt"
}

: > "$LAB_RESULTS/results.txt"
for ((round = 1; round <= ROUNDS; round++)); do
    step "round $round of $ROUNDS: ${SECONDS_PER_JOB}s per job and initiator"
    # Rotate who goes first, so that no initiator always runs right after the same neighbour.
    order=("${initiators[@]:$(((round - 1) % 3))}" "${initiators[@]:0:$(((round - 1) % 3))}")
    for j in "${jobs[@]}"; do
        for name in "${order[@]}"; do
            # shellcheck disable=SC2086  # the job's options are words
            terse=$(fio --name="$j" --filename="${device[$name]}" --direct=1 --ioengine=libaio --size=$REGION \
                --time_based --runtime="$SECONDS_PER_JOB" --ramp_time=1 --output-format=terse --terse-version=3 ${job[$j]})
            record "$round" "$j" "$name" "$terse"
        done
    done
    # Buffered writes through a filesystem, the way a mount is used: 256 MiB through the page cache, then
    # fsync. The LUN is shared, so each initiator formats it afresh before its turn.
    for name in "${order[@]}"; do
        dev=${device[$name]}
        mkfs.xfs -q -f "$dev"
        mkdir -p /mnt/bench
        mount "$dev" /mnt/bench
        terse=$(fio --name=xfs-buffered-write --directory=/mnt/bench --rw=write --bs=1M --size=256M \
            --ioengine=psync --end_fsync=1 --output-format=terse --terse-version=3)
        umount /mnt/bench
        record "$round" xfs-buffered-write "$name" "$terse"
    done
done

if dmesg | tail -n +"$((lab_dmesg_lines + 1))" | grep -E 'I/O error|timed out' > "$LAB_RESULTS/dmesg-errors.txt"; then
    fail "the kernel logged I/O errors during the benchmark: $(head -n 3 "$LAB_RESULTS/dmesg-errors.txt" | tr '\n' ' ')"
fi
