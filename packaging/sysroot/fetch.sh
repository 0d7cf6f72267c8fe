#!/usr/bin/env bash
# Fetches and unpacks the build sysroot that packaging/sysroot/publish.sh links iscsi-up against: the
# Debian 11 "bullseye" packages listed in packaging/sysroot/packages.txt, each pinned by version and SHA-256.
#   packaging/sysroot/fetch.sh   ->   prints the sysroot's path (stdout's last line)
# The .debs come from the Debian mirror this machine's apt already uses (its bullseye suite), through a
# private apt configuration that touches nothing of the system's: its own sources list, package lists and
# cache, under the sysroot directory. apt checks the suite's signature (debian-archive-keyring); this script
# then checks every .deb against the pinned SHA-256, so two machines build from the same bytes.
# The sysroot is kept and reused while packages.txt is unchanged.
#
# Environment:
#   ISCSI_UP_SYSROOT_DIR=DIR      where sysroots are kept (default: REPO/out/sysroot)
#   ISCSI_UP_SYSROOT_MIRROR=URI   the Debian mirror (default: the first .../debian URI in /etc/apt's sources)
set -euo pipefail

say() { echo "fetch.sh: $*" >&2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
list=$here/packages.txt
suite=bullseye
keyring=/usr/share/keyrings/debian-archive-keyring.gpg

# One directory per content of packages.txt: editing a pin gives a new sysroot, never a mixed one.
key=$(sha256sum "$list" | cut -c1-12)
base=${ISCSI_UP_SYSROOT_DIR:-$repo/out/sysroot}
dir=$base/$suite-$key
root=$dir/root
if [ -f "$dir/complete" ]; then echo "$root"; exit 0; fi

mirror=$(bash "$here/debian-mirror.sh")
[ -r "$keyring" ] || { say "$keyring is missing: install debian-archive-keyring"; exit 1; }
for tool in apt-get dpkg sha256sum; do
  command -v "$tool" >/dev/null || { say "$tool is needed (this script runs on Debian or Ubuntu)"; exit 1; }
done

rm -rf "$dir"
mkdir -p "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial" "$dir/debs" "$root"
echo "deb [signed-by=$keyring] $mirror $suite main" > "$dir/apt/sources.list"
apt_private=(
  -o "Dir::Etc::sourcelist=$dir/apt/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::State::Lists=$dir/apt/lists" -o "Dir::Cache=$dir/apt/cache" -o Dir::State::status=/dev/null
  -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root -o Debug::NoLocking=1
)
say "reading the $suite package lists"
apt-get "${apt_private[@]}" -qq update >&2

while read -r name version sha256; do
  case $name in ''|'#'*) continue ;; esac
  say "$name $version"
  (cd "$dir/debs" && apt-get "${apt_private[@]}" -qq download "$name=$version" >&2) ||
    { say "cannot download $name $version from the $suite suite (pinned in $list; has the mirror moved on?)"; exit 1; }
  deb=$(ls "$dir/debs/${name}_"*.deb)
  actual=$(sha256sum "$deb" | cut -d' ' -f1)
  [ "$actual" = "$sha256" ] || { say "$deb has SHA-256 $actual, $list pins $sha256"; exit 1; }
  dpkg -x "$deb" "$root"
done < "$list"

# The packages' absolute symlinks (libm.so -> /lib/x86_64-linux-gnu/libm.so.6, ...) would point into the
# build machine's own /lib: make them relative, inside the sysroot.
find "$root" -type l -lname '/*' | while read -r link; do
  ln -sfnr "$root$(readlink "$link")" "$link"
done
rm -rf "$dir/apt" "$dir/debs"
touch "$dir/complete"
echo "$root"
