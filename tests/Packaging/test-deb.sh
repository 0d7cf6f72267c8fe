#!/usr/bin/env bash
# shellcheck disable=SC2016
# Tests the .deb: builds it with packaging/deb/build.sh, lints it (lintian --pedantic), checks its control
# fields and files, then installs it with apt into a Debian 12 "bookworm" root made here with debootstrap
# (minbase), so that apt resolves its Depends from the mirror and runs its maintainer scripts: the units
# enabled, /etc/iscsi-up 0700, an initiator name generated once (0600) and kept on reinstall, iscsi-up
# runs there; apt-get remove keeps the name, purge removes it and the enablement.
#   tests/Packaging/test-deb.sh
#   ISCSI_UP_BINARY=out/bin/iscsi-up tests/Packaging/test-deb.sh   (package an already-published executable)
# Needs root (debootstrap, chroot), lintian, debootstrap and the Debian mirror this machine's apt uses.
# The root has no running systemd: starting units is not tested here (the kernel lab boots the RPM's).
# Prints PASS/FAIL lines and "N passed, M failed".
set -uo pipefail

# shellcheck source=tests/Packaging/checks.sh
source "$(dirname "$0")/checks.sh"

[ "$(id -u)" = 0 ] || { fail "needs root (debootstrap, chroot)"; finish; }
missing=""
for tool in debootstrap lintian dpkg-deb unshare chroot; do command -v "$tool" >/dev/null || missing+=" $tool"; done
[ -z "$missing" ] || { fail "missing tools:$missing (apt-get install debootstrap lintian dpkg util-linux coreutils)"; finish; }
deb_version=${version//-/\~}-1

# ------------------------------------------------------------------------------------------------- build
if ! deb=$(bash packaging/deb/build.sh "$work/out" 2>"$work/build.log" | tail -n 1) || [ ! -f "$deb" ]; then
  fail "packaging/deb/build.sh"; tail -n 30 "$work/build.log" | sed 's/^/    /'; finish
fi
check "build.sh built $(basename "$deb") ($(du -h "$deb" | cut -f1))" test "$deb" = "$work/out/iscsi-up_${deb_version}_amd64.deb"
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/bin/iscsi-up > "$work/iscsi-up" && chmod +x "$work/iscsi-up"
again=$(ISCSI_UP_BINARY=$work/iscsi-up bash packaging/deb/build.sh "$work/again" 2>/dev/null | tail -n 1)
check "build.sh is reproducible: the same executable gives the same .deb, byte for byte" cmp -s "$deb" "$again"

# ------------------------------------------------------------------------------------------------ lintian
lint=$(lintian --pedantic --info "$deb" 2>&1 | grep -E '^[EWIPX]:')
check "lintian --pedantic: no error, warning, info or pedantic tag${lint:+:
$lint}" test -z "$lint"

# ------------------------------------------------------------------------------------------ control, files
field() { dpkg-deb -f "$deb" "$1"; }
check "control: iscsi-up $deb_version amd64" test "$(field Package) $(field Version) $(field Architecture)" = "iscsi-up $deb_version amd64"
depends=$(field Depends)
check "control: depends on glibc 2.17, OpenSSL 3 or 1.1, xfsprogs, mount, kmod ($depends)" \
  test "$depends" = "libc6 (>= 2.17), libssl3 | libssl3t64 | libssl1.1, xfsprogs, mount, kmod"
check "control: recommends e2fsprogs" test "$(field Recommends)" = e2fsprogs
contents=$(dpkg-deb -c "$deb" | awk '{print $1, $2, $6}')
missing=""
for entry in "-rwxr-xr-x root/root ./usr/bin/iscsi-up" \
             "-rw-r--r-- root/root ./lib/systemd/system/iscsi-up.service" \
             "-rw-r--r-- root/root ./lib/systemd/system/iscsi-upd.service" \
             "-rw-r--r-- root/root ./lib/systemd/system/iscsi-upd.socket" \
             "-rw-r--r-- root/root ./usr/lib/tmpfiles.d/iscsi-up.conf" \
             "-rw-r--r-- root/root ./lib/udev/rules.d/59-iscsi-up.rules" \
             "-rw-r--r-- root/root ./usr/share/man/man8/iscsi-up.8.gz" \
             "-rw-r--r-- root/root ./usr/share/doc/iscsi-up/copyright" \
             "drwx------ root/root ./etc/iscsi-up/" "drwx------ root/root ./etc/iscsi-up/nodes/" \
             "drwx------ root/root ./etc/iscsi-up/secrets/"; do
  grep -qxF -- "$entry" <<<"$contents" || missing+=" [$entry]"
done
check "files: executable, 3 units, tmpfiles.d, udev rule, man page, copyright, /etc/iscsi-up 0700${missing:+ (missing:$missing)}" test -z "$missing"
check "files: nothing in /run (tmpfiles.d makes /run/iscsi-up)" bash -c '! grep -q "\./run" <<<"$1"' _ "$contents"
for script in postinst prerm postrm; do
  dpkg-deb --ctrl-tarfile "$deb" | tar -xO "./$script" > "$work/$script"
  check "$script: valid sh" sh -n "$work/$script"
done

# ----------------------------------------------------------------------------- install into Debian 12
mirror=$(bash packaging/sysroot/debian-mirror.sh) || { fail "no Debian mirror for debootstrap"; finish; }
root=$work/bookworm
t=$(date +%s)
if debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
  pass "debootstrap --variant=minbase bookworm took $(($(date +%s) - t)) s"
else
  fail "debootstrap bookworm:"; tail -n 20 "$work/debootstrap.log" | sed 's/^/    /'; finish
fi
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
cp "$deb" "$root/tmp/"
# in_root COMMAND...: COMMAND in the root, with its own /proc, in a mount namespace that goes with it.
in_root() { unshare --mount sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$root" "$@"; }
apt_in_root() { in_root env DEBIAN_FRONTEND=noninteractive apt-get -qq -o Dpkg::Use-Pty=0 "$@"; }

t=$(date +%s)
if apt_in_root update >"$work/apt.log" 2>&1 && apt_in_root install -y --no-install-recommends "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1; then
  pass "apt-get install ./$(basename "$deb") in the bookworm root (dependencies from the mirror; $(($(date +%s) - t)) s)"
else
  fail "apt-get install in the bookworm root:"; tail -n 20 "$work/apt.log" | sed 's/^/    /'; finish
fi
check "dpkg -s iscsi-up: install ok installed" test "$(in_root dpkg-query -W -f '${Status}' iscsi-up)" = "install ok installed"
verify=$(in_root dpkg --verify iscsi-up 2>&1)
check "dpkg --verify iscsi-up: files as packaged${verify:+ ($verify)}" test -z "$verify"
out=$(in_root iscsi-up --version 2>&1)
check "iscsi-up --version in the root: $out" grep -qE "^$version(\+[0-9a-f]+)?$" <<<"$out"
mode() { stat -c '%A %U:%G' "$root$1" 2>/dev/null; }
check "installed: /etc/iscsi-up, nodes, secrets drwx------ root:root" \
  test "$(mode /etc/iscsi-up; mode /etc/iscsi-up/nodes; mode /etc/iscsi-up/secrets)" = "$(printf 'drwx------ root:root\n%.0s' 1 2 3)"
wants=$root/etc/systemd/system
check "postinst: enabled iscsi-upd.socket (sockets.target) and iscsi-up.service (remote-fs.target)" \
  test -L "$wants/sockets.target.wants/iscsi-upd.socket" -a -L "$wants/remote-fs.target.wants/iscsi-up.service"
name_file=$root/etc/iscsi-up/initiatorname.iscsi
name=$(cat "$name_file" 2>/dev/null)
check "postinst: wrote an initiator name ($name)" grep -qxE 'InitiatorName=iqn\.2026-11\.org\.iscsi-up:[0-9a-f]{12}' <<<"$name"
check "postinst: initiatorname.iscsi is -rw------- root:root" test "$(mode /etc/iscsi-up/initiatorname.iscsi)" = "-rw------- root:root"
check "iscsi-up iname in the root presents it" test "InitiatorName=$(in_root iscsi-up iname 2>&1)" = "$name"
in_root dpkg -i "/tmp/$(basename "$deb")" >>"$work/apt.log" 2>&1
check "dpkg -i again (upgrade to the same version): the name stays" test "$(cat "$name_file" 2>/dev/null)" = "$name"

apt_in_root remove -y iscsi-up >>"$work/apt.log" 2>&1
check "apt-get remove: the executable and units are gone, the initiator name stays" \
  test ! -e "$root/usr/bin/iscsi-up" -a ! -e "$root/lib/systemd/system/iscsi-upd.service" -a "$(cat "$name_file" 2>/dev/null)" = "$name"
apt_in_root purge -y iscsi-up >>"$work/apt.log" 2>&1
left=$(cd "$root" && find etc var/lib/systemd -name '*iscsi-up*' 2>/dev/null | sort | paste -sd' ')
check "apt-get purge: /etc/iscsi-up and the units' enablement are gone${left:+ (left: $left)}" test -z "$left"

finish
