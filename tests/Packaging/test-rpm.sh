#!/usr/bin/env bash
# SC2016: the bash -c '...' checks get their text as "$1" on purpose. SC2001: sed indents multi-line output.
# shellcheck disable=SC2016,SC2001
# Tests the RHEL RPM: builds it with packaging/rpm/build.sh (Debian's rpm), lints it, checks its header,
# files, dependencies and scriptlets, installs it into an empty root, runs the installed executable there,
# verifies and removes it, and checks the man page and the systemd unit.
#   tests/Packaging/test-rpm.sh
#   ISCSI_UP_BINARY=out/bin/iscsi-up tests/Packaging/test-rpm.sh   (package an already-published
#                                                                   executable: skips the AOT publish)
# Prints one PASS/FAIL line per check and then "N passed, M failed"; exits non-zero on any failure.
# Needs root only to install missing tools (build.sh: rpm, rpmlint, clang; here: groff).
set -uo pipefail

# shellcheck source=tests/Packaging/checks.sh
source "$(dirname "$0")/checks.sh"
contains() { grep -qxF -- "$2" <<<"$1"; }    # contains TEXT LINE: LINE is one of TEXT's lines

rpm_version=${version//-/\~}

# ---------------------------------------------------------------------------------------------- man page
if ! command -v groff >/dev/null && [ "$(id -u)" = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends groff-base >/dev/null 2>&1
fi
man_src=packaging/man/iscsi-up.8
if command -v groff >/dev/null; then
  groff_out=$(groff -man -Tutf8 -ww -z "$man_src" 2>&1)
  if [ -z "$groff_out" ]; then pass "man page: groff -man -ww reports no warnings"
  else fail "man page: groff -man -ww warns:"; echo "$groff_out" | sed 's/^/    /'; fi
  rendered=$(MANWIDTH=100 groff -man -Tutf8 "$man_src" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g; s/.\x08//g; s/\xe2\x88\x92/-/g; s/\xe2\x80\x90/-/g')
  missing=""
  for section in NAME SYNOPSIS DESCRIPTION COMMANDS OPTIONS "EXIT STATUS" FILES ENVIRONMENT SECURITY EXAMPLES "SEE ALSO"; do
    grep -qx "$section" <<<"$rendered" || missing+=" [$section]"
  done
  check "man page: has every section${missing:+ (missing:$missing)}" test -z "$missing"
  missing=""
  for word in discover login session logout mount umount daemon ISCSI_UP_CONFIG_DIR ISCSI_UP_RUN_DIR ISCSI_UP_DEBUG \
              "defaults,_netdev 0 0" "iscsiadm(8)" "nbd-client(8)" "fstab(5)"; do
    grep -qF -- "$word" <<<"$rendered" || missing+=" [$word]"
  done
  check "man page: names every command, variable and reference${missing:+ (missing:$missing)}" test -z "$missing"
else
  fail "man page: groff is not installed (apt-get install groff-base)"
fi
# ------------------------------------------------------------------------------------------------- build
echo "building the RPM (packaging/rpm/build.sh; ${ISCSI_UP_BINARY:+packaging $ISCSI_UP_BINARY, }the log is printed on failure)"
build_started=$(date +%s)
if ! rpm_file=$(bash packaging/rpm/build.sh "$work/out" 2>"$work/build.log" | tail -n 1) || [ ! -f "$rpm_file" ]; then
  fail "packaging/rpm/build.sh"
  tail -n 40 "$work/build.log" | sed 's/^/    /'
  finish
fi
expected=$work/out/x86_64/iscsi-up-$rpm_version-1.x86_64.rpm
check "build.sh built $(basename "$rpm_file") ($(du -h "$rpm_file" | cut -f1)) in $(($(date +%s) - build_started)) s" \
  test "$rpm_file" = "$expected"

# ------------------------------------------------------------------------------------------------ rpmlint
# The spec is linted too, from a copy with the version build.sh would define.
mkdir -p "$work/spec"
sed "s/^%{!?pkg_version:.*$/%global pkg_version $rpm_version/" packaging/rpm/iscsi-up.spec > "$work/spec/iscsi-up.spec"
lint=$(rpmlint -c packaging/rpm/rpmlint-rhel.toml -r packaging/rpm/iscsi-up.rpmlintrc "$rpm_file" "$work/spec/iscsi-up.spec" 2>&1)
lint_status=$?
lint_errors=$(grep -E ': E: ' <<<"$lint")
lint_warnings=$(grep -E ': W: ' <<<"$lint")
if [ $lint_status -eq 0 ] && [ -z "$lint_errors" ]; then
  pass "rpmlint: no errors ($(grep -c . <<<"$lint_warnings" || true) warning(s))"
else
  fail "rpmlint (exit $lint_status):"
  echo "$lint" | sed 's/^/    /'
fi
[ -z "$lint_warnings" ] || echo "$lint_warnings" | sed 's/^/    rpmlint warning: /'

# ----------------------------------------------------------------------------------------- header, deps
q() { rpm -qp --qf "$1" "$rpm_file" 2>/dev/null; }
check "header: iscsi-up $rpm_version-1 x86_64, License MIT" \
  test "$(q '%{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{LICENSE}')" = "iscsi-up $rpm_version-1 x86_64 MIT"
check "header: Summary and URL set" test -n "$(q '%{SUMMARY}')" -a "$(q '%{URL}')" != "(none)"
requires=$(rpm -qp --requires "$rpm_file" 2>/dev/null | sed 's/ *$//')
missing=""
for dep in xfsprogs util-linux kmod; do contains "$requires" "$dep" || missing+=" $dep"; done
check "requires xfsprogs, util-linux, kmod${missing:+ (missing:$missing)}" test -z "$missing"
check "recommends e2fsprogs" contains "$(rpm -qp --recommends "$rpm_file" 2>/dev/null)" e2fsprogs
# Self-contained: nothing of a .NET runtime, OpenSSL loaded at run time (not required), and nothing beyond
# RHEL 8's glibc 2.28.
check "requires no .NET runtime (dotnet, libhostfxr, libicu, libssl)" \
  bash -c '! grep -qiE "dotnet|hostfxr|libicu|libssl|libcrypto|libstdc" <<<"$1"' _ "$requires"
newest_glibc=$(grep -oE 'GLIBC_[0-9.]+' <<<"$requires" | sed 's/GLIBC_//' | sort -V | tail -n 1)
check "requires glibc $newest_glibc at most (RHEL 8 has 2.28)" \
  test -n "$newest_glibc" -a "$(printf '%s\n' "$newest_glibc" 2.28 | sort -V | tail -n 1)" = 2.28
# RHEL 7 (glibc 2.17, a kernel without nbd) is refused at install time.
check "requires glibc >= 2.28 (keeps it off RHEL 7)" contains "$requires" "glibc >= 2.28"

# ----------------------------------------------------------------------------------------------- contents
list=$(rpm -qlp "$rpm_file" 2>/dev/null)
missing=""
units="iscsi-upd.socket iscsi-upd.service iscsi-up.service"
for path in /usr/bin/iscsi-up /usr/lib/systemd/system/iscsi-up.service /usr/lib/systemd/system/iscsi-upd.service \
            /usr/lib/systemd/system/iscsi-upd.socket /usr/lib/tmpfiles.d/iscsi-up.conf /usr/share/man/man8/iscsi-up.8.gz \
            /etc/iscsi-up /etc/iscsi-up/nodes /etc/iscsi-up/secrets /etc/iscsi-up/initiatorname.iscsi \
            /run/iscsi-up /usr/share/doc/iscsi-up/README.md /usr/share/bash-completion/completions/iscsi-up \
            /usr/share/zsh/site-functions/_iscsi-up /usr/lib/udev/rules.d/59-iscsi-up.rules; do
  contains "$list" "$path" || missing+=" $path"
done
check "rpm -qlp lists binary, 3 units, tmpfiles.d, udev rule, man page, bash and zsh completion, /etc/iscsi-up, docs${missing:+ (missing:$missing)}" test -z "$missing"
if [ -f LICENSE ] || [ -f LICENSE.md ] || [ -f LICENSE.txt ] || [ -f COPYING ]; then
  check "rpm -qlp lists the license text" contains "$list" /usr/share/licenses/iscsi-up/LICENSE
else
  echo "NOTE the repository has no LICENSE file: the package ships no license text"
fi
check "no .build-id links or debug files" bash -c '! grep -qE "/\.build-id|/usr/lib/debug|\.dbg$|\.pdb$" <<<"$1"' _ "$list"
attrs=$(q '[%{FILEFLAGS:fflags}|%{FILEMODES:perms}|%{FILEUSERNAME}:%{FILEGROUPNAME}|%{FILENAMES}\n]')
attr() { grep -E "\|$1\$" <<<"$attrs" | cut -d'|' -f1-3; }
check "package: /usr/bin/iscsi-up -rwxr-xr-x root:root" test "$(attr /usr/bin/iscsi-up)" = "|-rwxr-xr-x|root:root"
check "package: /etc/iscsi-up drwx------ root:root" test "$(attr /etc/iscsi-up)" = "|drwx------|root:root"
check "package: /etc/iscsi-up/nodes drwx------ root:root" test "$(attr /etc/iscsi-up/nodes)" = "|drwx------|root:root"
check "package: /etc/iscsi-up/secrets drwx------ root:root" test "$(attr /etc/iscsi-up/secrets)" = "|drwx------|root:root"
check "package: /run/iscsi-up drwx------ root:root" test "$(attr /run/iscsi-up)" = "|drwx------|root:root"
check "package: initiatorname.iscsi is %ghost %config(noreplace), -rw-------" \
  test "$(attr /etc/iscsi-up/initiatorname.iscsi)" = "cng|-rw-------|root:root"
check "package: units are -rw-r--r--" test "$(for u in $units; do attr /usr/lib/systemd/system/$u; done | sort -u)" = "|-rw-r--r--|root:root"

# ---------------------------------------------------------------------------------------------- scriptlets
scripts=$(rpm -qp --scripts "$rpm_file" 2>/dev/null)
check "scripts: %post presets the socket, the daemon and the boot unit" grep -q "systemctl --no-reload preset $units" <<<"$scripts"
check "scripts: %post creates /run/iscsi-up (systemd-tmpfiles)" \
  grep -q 'systemd-tmpfiles --create /usr/lib/tmpfiles.d/iscsi-up.conf' <<<"$scripts"
check "scripts: %preun disables and stops the units on removal" grep -q "disable --now $units" <<<"$scripts"
check "scripts: %postun reloads systemd and, on upgrade only, try-restarts iscsi-upd.service (and no other unit)" \
  bash -c 'grep -q "daemon-reload" <<<"$1" && grep -qE "\[ \\\$1 -ge 1 \]" <<<"$1" \
           && [ "$(grep -oE "try-restart [^>|]*" <<<"$1" | sed "s/ *$//")" = "try-restart iscsi-upd.service" ]' _ "$(q '%{POSTUN}')"
bad_syntax=""
for tag in POSTIN PREUN POSTUN; do q "%{$tag}" | sh -n 2>/dev/null || bad_syntax+=" $tag"; done
check "scripts: %post, %preun, %postun are valid sh${bad_syntax:+ (bad:$bad_syntax)}" test -z "$bad_syntax"

# ------------------------------------------------------------------------------- install into an empty root
# --nodeps: the empty root has no packages at all (no glibc, xfsprogs, util-linux, kmod, /bin/sh), so the
# dependencies cannot be met there; they are checked above instead. --noscripts: there is no shell in the
# root to run them; %post is run below against the root's paths. The rpmdb goes where RHEL keeps it.
ROOT=$work/root
mkdir -p "$ROOT"
rpmr() { rpm --root "$ROOT" --dbpath /var/lib/rpm "$@"; }
check "rpm --root ROOT --initdb" rpmr --initdb
install_log=$(rpmr -ivh --nodeps --noscripts "$rpm_file" 2>&1)
if rpmr -q --quiet iscsi-up; then pass "rpm --root ROOT -ivh --nodeps --noscripts"
else fail "rpm --root ROOT -ivh --nodeps --noscripts:"; echo "$install_log" | sed 's/^/    /'; fi
verify=$(rpmr -V --nodeps iscsi-up 2>&1)
check "rpm --root ROOT -V iscsi-up: installed files match the package${verify:+ ($verify)}" test -z "$verify"

mode() { stat -c '%A %U:%G' "$ROOT$1" 2>/dev/null; }
check "installed: /usr/bin/iscsi-up -rwxr-xr-x root:root" test "$(mode /usr/bin/iscsi-up)" = "-rwxr-xr-x root:root"
check "installed: /etc/iscsi-up drwx------ root:root" test "$(mode /etc/iscsi-up)" = "drwx------ root:root"
check "installed: /etc/iscsi-up/nodes drwx------ root:root" test "$(mode /etc/iscsi-up/nodes)" = "drwx------ root:root"
check "installed: /etc/iscsi-up/secrets drwx------ root:root" test "$(mode /etc/iscsi-up/secrets)" = "drwx------ root:root"
check "installed: /run/iscsi-up drwx------ root:root" test "$(mode /run/iscsi-up)" = "drwx------ root:root"
check "installed: units and tmpfiles.d -rw-r--r--" \
  test "$(for f in $units; do mode /usr/lib/systemd/system/$f; done; mode /usr/lib/tmpfiles.d/iscsi-up.conf)" = "$(printf -- '-rw-r--r-- root:root\n%.0s' 1 2 3 4)"
check "installed: initiatorname.iscsi not shipped (%ghost)" test ! -e "$ROOT/etc/iscsi-up/initiatorname.iscsi"
check "installed: tmpfiles.d creates /run/iscsi-up 0700 root" \
  grep -qxE 'd[[:space:]]+/run/iscsi-up[[:space:]]+0700[[:space:]]+root[[:space:]]+root[[:space:]]+-' "$ROOT/usr/lib/tmpfiles.d/iscsi-up.conf"
check "installed: iscsi-upd.service runs /usr/bin/iscsi-up daemon" grep -qx 'ExecStart=/usr/bin/iscsi-up daemon' "$ROOT/usr/lib/systemd/system/iscsi-upd.service"
check "installed: iscsi-upd.service restarts a daemon that died (Restart=on-failure, RestartSec of a few seconds)" \
  bash -c 'grep -qx "Restart=on-failure" "$1" && [ "$(sed -n "s/^RestartSec=\([0-9]*\)s\?$/\1/p" "$1")" -le 5 ]' _ "$ROOT/usr/lib/systemd/system/iscsi-upd.service"
check "installed: iscsi-up.service runs /usr/bin/iscsi-up login --automatic" \
  grep -qx 'ExecStart=/usr/bin/iscsi-up login --automatic' "$ROOT/usr/lib/systemd/system/iscsi-up.service"
check "installed: iscsi-upd.socket listens on /run/iscsi-up/control.sock, mode 0600" \
  bash -c 'grep -qx "ListenStream=/run/iscsi-up/control.sock" "$1" && grep -qx "SocketMode=0600" "$1"' _ "$ROOT/usr/lib/systemd/system/iscsi-upd.socket"
man_page=$(gzip -dc "$ROOT/usr/share/man/man8/iscsi-up.8.gz" 2>/dev/null)
check "installed: man page carries version $version" grep -q "^\.TH .*\"iscsi-up $version\"" <<<"$man_page"
completion=$ROOT/usr/share/bash-completion/completions/iscsi-up
check "installed: bash completion -rw-r--r--, completes the commands" \
  bash -c 'test "$(stat -c "%A" "$1")" = -rw-r--r-- && source "$1" && COMP_WORDS=(iscsi-up lo) COMP_CWORD=1 && _iscsi_up && test "${COMPREPLY[*]}" = "login logout"' _ "$completion"
check "installed: zsh completion -rw-r--r--, #compdef iscsi-up, sources the bash completion" \
  bash -c 'test "$(stat -c "%A" "$1")" = -rw-r--r-- && head -n 1 "$1" | grep -qx "#compdef iscsi-up" && grep -q "^ *source /usr/share/bash-completion/completions/iscsi-up$" "$1"' \
  _ "$ROOT/usr/share/zsh/site-functions/_iscsi-up"

# The NativeAOT executable runs from any path, without a .NET runtime.
bin=$ROOT/usr/bin/iscsi-up
installed_version=$(DOTNET_ROOT=/nonexistent "$bin" --version 2>&1)
check "ROOT/usr/bin/iscsi-up --version prints $version ($installed_version)" grep -qE "^$version(\+[0-9a-f]+)?$" <<<"$installed_version"
# One binary for RHEL 8, 9 and 10: no symbol above RHEL 8's glibc 2.28; and build.sh refuses one that has
# (this machine's /bin/ls, linked against Debian 12's glibc 2.36).
glibc_out=$(bash packaging/sysroot/check-glibc.sh "$bin" 2.28 2>&1)
check "objdump -T ROOT/usr/bin/iscsi-up: $glibc_out" grep -q 'at most$' <<<"$glibc_out"
refused=$(ISCSI_UP_BINARY=/bin/ls bash packaging/rpm/build.sh "$work/refused" 2>&1 >/dev/null)
check "build.sh refuses an executable that needs a glibc above 2.28 ($(grep -m1 -o 'needs GLIBC_[0-9.]*' <<<"$refused"))" \
  bash -c 'grep -q "would not start on RHEL 8" <<<"$1" && ! ls "$2"/x86_64/*.rpm >/dev/null 2>&1' _ "$refused" "$work/refused"
help=$(DOTNET_ROOT=/nonexistent "$bin" --help 2>&1)
missing=""
for command in discover login session logout mount umount node iname daemon; do
  grep -qE "^  $command " <<<"$help" || missing+=" $command"
  DOTNET_ROOT=/nonexistent "$bin" "$command" --help >/dev/null 2>&1 || missing+=" $command--help"
done
check "ROOT/usr/bin/iscsi-up --help and COMMAND --help for every command${missing:+ (missing:$missing)}" test -z "$missing"

# Every option of every command is in the man page.
if [ -n "${rendered:-}" ]; then
  undocumented="" options=0
  for command in discover login session logout mount umount node iname daemon; do
    for option in $("$bin" "$command" --help 2>/dev/null | grep -oE '(^|[ ,])--[a-z][a-z0-9-]*' | tr -d ' ,' | sort -u); do
      options=$((options + 1))
      grep -qF -- "$option" <<<"$rendered" || undocumented+=" $command:$option"
    done
  done
  check "man page: documents all $options options of the 9 commands${undocumented:+ (missing:$undocumented)}" \
    test -z "$undocumented" -a "$options" -gt 20
fi

# %post against the root's paths: systemctl and systemd-tmpfiles are looked for under ROOT (absent, so
# skipped), /etc under ROOT. It writes an initiator name once, in a form iscsi-up accepts.
postin=$(q '%{POSTIN}' | sed -e "s#/etc/#$ROOT/etc/#g" -e "s#/usr/bin/#$ROOT/usr/bin/#g")
sh -c "$postin" post 1 >/dev/null 2>&1
name_file=$ROOT/etc/iscsi-up/initiatorname.iscsi
name=$(cat "$name_file" 2>/dev/null)
check "%post: writes InitiatorName=iqn.2026-11.org.iscsi-up:<12 hex> ($name)" \
  grep -qxE 'InitiatorName=iqn\.2026-11\.org\.iscsi-up:[0-9a-f]{12}' <<<"$name"
check "%post: initiatorname.iscsi is -rw------- root:root" test "$(mode /etc/iscsi-up/initiatorname.iscsi)" = "-rw------- root:root"
sh -c "$postin" post 2 >/dev/null 2>&1
check "%post: keeps the name on upgrade" test "$(cat "$name_file" 2>/dev/null)" = "$name"
# iscsi-up takes that name: discovery against a closed loopback port fails on the connection (4), not on
# the name (7), and leaves the file alone.
ISCSI_UP_CONFIG_DIR=$ROOT/etc/iscsi-up ISCSI_UP_RUN_DIR=$work/run ISCSI_UP_OPEN_ISCSI_NAME_FILE=$work/none \
  "$bin" discover -p 127.0.0.1:1 --login-timeout 5 >"$work/discover.out" 2>&1
discover_status=$?
check "iscsi-up accepts the name %post wrote (discover exit $discover_status: $(head -c 160 "$work/discover.out"))" \
  test $discover_status -eq 4 -a "$(cat "$name_file")" = "$name"
mkdir -p "$work/open-iscsi-root/etc/iscsi-up" "$work/open-iscsi-root/etc/iscsi"
echo 'InitiatorName=iqn.1994-05.com.redhat:abcdef' > "$work/open-iscsi-root/etc/iscsi/initiatorname.iscsi"
q '%{POSTIN}' | sed -e "s#/etc/#$work/open-iscsi-root/etc/#g" -e "s#/usr/bin/#$ROOT/usr/bin/#g" | sh -s 1 >/dev/null 2>&1
check "%post: leaves the name to open-iscsi's file when there is one" test ! -e "$work/open-iscsi-root/etc/iscsi-up/initiatorname.iscsi"

# The units, as installed in ROOT (so that /usr/bin/iscsi-up and man:iscsi-up(8) are found there), next to
# systemd's own units (sysinit.target, remote-fs-pre.target, ...) as a RHEL root has them from its systemd
# package: copied from this machine's systemd, without overwriting ours.
if ! command -v systemd-analyze >/dev/null; then
  fail "systemd-analyze is not installed (apt-get install systemd)"
else
  cp -rn /usr/lib/systemd/system/. "$ROOT/usr/lib/systemd/system/" 2>/dev/null || true
  verify_out=$(MANPATH=$ROOT/usr/share/man systemd-analyze verify --root="$ROOT" $units 2>&1)
  verify_status=$?
  check "systemd-analyze verify --root=ROOT $units${verify_out:+: $verify_out}" test $verify_status -eq 0 -a -z "$verify_out"
  # The boot order the units promise: iscsi-up.service after the network and the daemon, both before
  # remote-fs-pre.target (so _netdev mounts wait for them, and are unmounted before they stop).
  unit_dir=$ROOT/usr/lib/systemd/system
  order_ok=1
  for unit in network-online.target iscsi-upd.service; do grep -qE "^After=.*\b$unit\b" "$unit_dir/iscsi-up.service" || order_ok=0; done
  for unit in iscsi-up.service iscsi-upd.service; do grep -qE '^Before=.*\bremote-fs-pre\.target\b' "$unit_dir/$unit" || order_ok=0; done
  check "units: iscsi-up.service After=network-online.target iscsi-upd.service; both Before=remote-fs-pre.target" test $order_ok -eq 1
fi

# build.sh is idempotent: again into the same OUTDIR (with the executable just tested, no second publish).
again=$(ISCSI_UP_BINARY=$bin bash packaging/rpm/build.sh "$work/out" 2>"$work/build2.log" | tail -n 1)
check "build.sh again into the same OUTDIR gives the same path" test "$again" = "$rpm_file" -a -f "$rpm_file"

# Removal takes every file but the machine's initiator name (a %ghost %config file that rpm keeps, so
# the targets' ACLs still match after a reinstall) and the directory holding it.
rpmr -e --nodeps --noscripts iscsi-up >/dev/null 2>&1
left=$(cd "$ROOT" && find etc usr run -mindepth 1 2>/dev/null | grep -E 'iscsi-up' | sort | tr '\n' ' ')
check "rpm --root ROOT -e iscsi-up removes every file, keeps initiatorname.iscsi (left: $left)" \
  test "$left" = "etc/iscsi-up etc/iscsi-up/initiatorname.iscsi "

finish
