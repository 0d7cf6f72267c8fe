#!/usr/bin/env bash
# Runs the published iscsi-up executable in an old userland and on this machine, against a real tgtd:
#   tests/Packaging/test-userland.sh                                   (publishes with packaging/sysroot/publish.sh)
#   ISCSI_UP_BINARY=out/bin/iscsi-up tests/Packaging/test-userland.sh  (tests that executable; CI's way)
# In each userland: --version, discover, and a CHAP login whose LUN is served over NBD on loopback
# (--nbd-listen), read back with nbdcopy and compared with tgtd's backing file byte for byte; the CHAP
# hashes go through OpenSSL, and the test checks which libcrypto the process loaded.
#
# The old userland is a Debian 11 "bullseye" root made here with debootstrap (minbase plus libssl1.1):
# glibc 2.31 and OpenSSL 1.1.1, entered with chroot inside a private mount namespace (its /proc vanishes
# with it). The other is this machine (Debian 12: glibc 2.36, OpenSSL 3).
# What it proves: the one binary starts and does real iSCSI and NBD I/O on an older glibc than it was built
# on, and loads whichever OpenSSL the system has (1.1.1, RHEL 8's; 3.x, RHEL 9's and 10's) through dlopen.
# What it does not: glibc 2.28 itself (no 2.28 userland can be made here: Debian 10 is gone from the mirror);
# that rests on packaging/sysroot/check-glibc.sh, because the symbol versions objdump -T lists are exactly
# what the dynamic loader demands at start-up. Nor RHEL's own OpenSSL build, FIPS mode, SELinux or kernel.
# Needs root (debootstrap, chroot, unshare), tgtd/tgtadm (tgt), nbdcopy (libnbd-bin), debootstrap and the
# Debian mirror this machine's apt uses. Prints PASS/FAIL lines and "N passed, M failed".
set -uo pipefail

# shellcheck source=tests/Packaging/checks.sh
source "$(dirname "$0")/checks.sh"
tgtd_pid=""
cleanup() {
  # tgtd ignores SIGTERM while it has targets.
  [ -z "$tgtd_pid" ] || { kill -KILL "$tgtd_pid" 2>/dev/null; wait "$tgtd_pid" 2>/dev/null; }
  rm -rf "$work"
}
trap cleanup EXIT


[ "$(id -u)" = 0 ] || { fail "needs root (debootstrap, chroot, tgtd)"; finish; }
missing=""
for tool in debootstrap tgtd tgtadm nbdcopy nbdinfo unshare chroot objdump; do command -v "$tool" >/dev/null || missing+=" $tool"; done
[ -z "$missing" ] || { fail "missing tools:$missing (apt-get install debootstrap tgt libnbd-bin util-linux coreutils binutils)"; finish; }


# ------------------------------------------------------------------------------------------- the binary
if [ -n "${ISCSI_UP_BINARY:-}" ]; then
  binary=$(readlink -f "$ISCSI_UP_BINARY")
else
  echo "publishing with packaging/sysroot/publish.sh"
  bash packaging/sysroot/publish.sh "$work/publish" >"$work/publish.log" 2>&1 || { fail "publish.sh"; tail -n 30 "$work/publish.log"; finish; }
  binary=$work/publish/iscsi-up
fi
ceiling=$(bash packaging/sysroot/check-glibc.sh "$binary" 2.28 2>&1)
check "$ceiling" grep -q 'at most$' <<<"$ceiling"

# ----------------------------------------------------------------------------------- the bullseye root
# From the Debian mirror the build's sysroot comes from (the system's apt's).
mirror=$(bash packaging/sysroot/debian-mirror.sh) || { fail "no Debian mirror for debootstrap"; finish; }
old=$work/bullseye
debootstrap_started=$(date +%s)
if debootstrap --variant=minbase --include=libssl1.1 bullseye "$old" "$mirror" >"$work/debootstrap.log" 2>&1; then
  pass "debootstrap --variant=minbase --include=libssl1.1 bullseye took $(($(date +%s) - debootstrap_started)) s"
else
  fail "debootstrap bullseye:"; tail -n 20 "$work/debootstrap.log" | sed 's/^/    /'; finish
fi
old_glibc=$(chroot "$old" dpkg-query -W -f '${Version}' libc6 2>&1)
old_ssl=$(chroot "$old" dpkg-query -W -f '${Version}' libssl1.1 2>&1)
check "bullseye root: glibc $old_glibc, OpenSSL $old_ssl, no OpenSSL 3" \
  bash -c '[[ $1 == 2.31-* && $2 == 1.1.1* ]] && ! ls "$3"/usr/lib/x86_64-linux-gnu/libcrypto.so.3 >/dev/null 2>&1' _ "$old_glibc" "$old_ssl" "$old"
install -D -m 0755 "$binary" "$old/usr/local/bin/iscsi-up"

# in_userland NAME COMMAND...: execs COMMAND in that userland. Call it only in a subshell ($(...) or &):
# every step execs the next (unshare without --fork, sh, chroot, env), so $! is COMMAND's own PID.
in_userland() {
  local name=$1; shift
  if [ "$name" = host ]; then exec "$@"
  else exec unshare --mount sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$old" "$@"; fi
}

# ----------------------------------------------------------------------------------------------- tgtd
iqn=iqn.2026-12.org.iscsi-up.test:userland
initiator=iqn.2026-12.org.iscsi-up.test:client
chap_user=client1 chap_secret=Userland-Secret1
truncate -s 16M "$work/lun.img"
dd if=/dev/urandom of="$work/lun.img" bs=1M count=16 conv=notrunc status=none
for _ in 1 2 3 4 5; do
  port=$((20000 + RANDOM % 10000)) control=$((100 + RANDOM % 30000))
  tgtd -f -C "$control" --iscsi portal=127.0.0.1:$port >"$work/tgtd.log" 2>&1 &
  tgtd_pid=$!
  for _ in $(seq 50); do tgtadm -C "$control" --op show --mode target >/dev/null 2>&1 && break; sleep 0.1; done
  if kill -0 "$tgtd_pid" 2>/dev/null && tgtadm -C "$control" --op show --mode target >/dev/null 2>&1; then break; fi
  kill -KILL "$tgtd_pid" 2>/dev/null; wait "$tgtd_pid" 2>/dev/null; tgtd_pid=""
done
[ -n "$tgtd_pid" ] || { fail "tgtd did not start: $(cat "$work/tgtd.log")"; finish; }
tgt() { tgtadm -C "$control" --lld iscsi "$@"; }
tgt --op new --mode target --tid 1 -T "$iqn" &&
  tgt --op new --mode logicalunit --tid 1 --lun 1 -b "$work/lun.img" &&
  tgt --op bind --mode target --tid 1 --initiator-name "$initiator" &&
  tgt --op new --mode account --user "$chap_user" --password "$chap_secret" &&
  tgt --op bind --mode account --tid 1 --user "$chap_user" ||
  { fail "tgtadm could not set up $iqn"; finish; }

# ---------------------------------------------------------------------------------------- each userland
for userland in bullseye host; do
  # r: where the userland's / is here; state: the test's directory, as the userland sees it.
  if [ "$userland" = host ]; then r="" bin=$binary state=$work/host
  else r=$old bin=/usr/local/bin/iscsi-up state=/tmp/iscsi-up-test; fi
  mkdir -p "$r$state/config" "$r$state/run"
  printf '%s' "$chap_secret" > "$r$state/chap.secret"
  printf '%s' "Wrong-Secret-12" > "$r$state/wrong.secret"
  chmod 600 "$r$state/chap.secret" "$r$state/wrong.secret"
  env=(env ISCSI_UP_CONFIG_DIR=$state/config ISCSI_UP_RUN_DIR=$state/run)

  out=$(in_userland "$userland" "${env[@]}" "$bin" --version 2>&1)
  check "$userland: iscsi-up --version prints $version ($out)" grep -qE "^$version(\+[0-9a-f]+)?$" <<<"$out"

  out=$(in_userland "$userland" "${env[@]}" "$bin" discover -p "127.0.0.1:$port" -I "$initiator" 2>&1)
  check "$userland: discover lists the target ($out)" test "$out" = "127.0.0.1:$port,1 $iqn"

  # tgtd demands CHAP: a wrong secret is refused (exit 24), so the login below did authenticate.
  out=$(in_userland "$userland" "${env[@]}" "$bin" login -T "$iqn" -p "127.0.0.1:$port" -I "$initiator" --foreground \
    --nbd-device none --chap-user "$chap_user" --chap-secret-file "$state/wrong.secret" 2>&1)
  status=$?
  check "$userland: a wrong CHAP secret is refused, exit 24 (exit $status: $(head -n 1 <<<"$out"))" test "$status" -eq 24

  nbd_port=$((port + 1 + RANDOM % 1000))
  in_userland "$userland" "${env[@]}" "$bin" login -T "$iqn" -p "127.0.0.1:$port" -I "$initiator" --foreground \
    --nbd-listen "127.0.0.1:$nbd_port" --chap-user "$chap_user" --chap-secret-file "$state/chap.secret" \
    >"$work/login-$userland.log" 2>&1 &
  login_pid=$!
  for _ in $(seq 150); do
    nbdinfo --size "nbd://127.0.0.1:$nbd_port" >/dev/null 2>&1 && break
    kill -0 "$login_pid" 2>/dev/null || break
    sleep 0.2
  done
  # The CHAP login hashed with the system's OpenSSL: which libcrypto the process has mapped.
  crypto=$(grep -oE 'libcrypto\.so\.[0-9.]+' "/proc/$login_pid/maps" 2>/dev/null | sort -u | paste -sd' ')
  want=libcrypto.so.3; [ "$userland" = bullseye ] && want=libcrypto.so.1.1
  check "$userland: CHAP login used the system's OpenSSL (${crypto:-no libcrypto mapped}; want $want)" \
    test "$crypto" = "$want"
  rm -f "$work/read.img"
  if nbdcopy "nbd://127.0.0.1:$nbd_port" "$work/read.img" 2>"$work/nbdcopy.log" && cmp -s "$work/read.img" "$work/lun.img"; then
    pass "$userland: CHAP login, NBD on 127.0.0.1:$nbd_port: nbdcopy reads tgtd's 16 MiB backing file byte for byte"
  else
    fail "$userland: CHAP login and NBD read: $(cat "$work/nbdcopy.log"; tail -n 5 "$work/login-$userland.log")"
  fi
  kill -TERM "$login_pid" 2>/dev/null
  wait "$login_pid"
  login_status=$?
  check "$userland: login --foreground logs out on SIGTERM, exit 0 (exit $login_status: $(tail -n 1 "$work/login-$userland.log"))" \
    test "$login_status" -eq 0
done

finish
