# Sourced by the benchmarks: starts tgtd on 127.0.0.1:$PORT (control port $CONTROL) with one 1 GiB LUN of random
# bytes on tmpfs at $WORK/lun.img, bound to $INITIATOR, and the same generous limits every initiator may
# negotiate up to. Sets TGTD_PID; the caller's cleanup kills it.
start_tgtd_lun() {
  truncate -s 1G "$WORK/lun.img"
  tgtd -f -C "$CONTROL" --iscsi portal=127.0.0.1:$PORT >"$WORK/tgtd.log" 2>&1 &
  TGTD_PID=$!
  for _ in $(seq 50); do tgtadm -C "$CONTROL" --op show --mode target >/dev/null 2>&1 && break; sleep 0.1; done
  tgtadm -C "$CONTROL" --lld iscsi --op new --mode target --tid 1 -T "$IQN"
  tgtadm -C "$CONTROL" --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 -b "$WORK/lun.img"
  tgtadm -C "$CONTROL" --lld iscsi --op bind --mode target --tid 1 --initiator-name "$INITIATOR"
  for kv in MaxRecvDataSegmentLength=262144 MaxXmitDataSegmentLength=262144 MaxBurstLength=16776192 FirstBurstLength=262144 InitialR2T=No ImmediateData=Yes; do
    tgtadm -C "$CONTROL" --lld iscsi --op update --mode target --tid 1 -n "${kv%%=*}" -v "${kv#*=}"
  done
  dd if=/dev/urandom of="$WORK/lun.img" bs=1M count=1024 conv=notrunc status=none
}
