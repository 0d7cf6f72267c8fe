#!/usr/bin/env bash
# Builds the iscsi-up RPM for RHEL (x86_64) on Debian, with Debian's rpm:
#   packaging/rpm/build.sh OUTDIR   ->   OUTDIR/x86_64/iscsi-up-VERSION-RELEASE.x86_64.rpm
# Publishes the NativeAOT executable with packaging/sysroot/publish.sh (dotnet publish src/Cli linked
# against an older glibc, so that the one x86_64 binary runs on RHEL 8, 9 and 10: that script says why it
# is built that way), checks that it needs glibc 2.28 at most (RHEL 8's; so the RPM's automatic
# libc.so.6(GLIBC_x.y) Requires stay within it too; packaging/common.sh, shared with the .deb), generates
# the man page from packaging/man/iscsi-up.8, and runs rpmbuild -bb in a private _topdir that is removed
# afterwards, so running it again gives the same result. Progress goes to stderr; the last line on stdout is the
# path of the RPM.
#
# Environment:
#   ISCSI_UP_BINARY=PATH       package this already-published executable instead of publishing again
#                              (CI publishes out/bin/iscsi-up before with packaging/sysroot/publish.sh;
#                              saves the slow AOT compile). It must need glibc 2.28 at most.
#   ISCSI_UP_RPM_RELEASE=N     the RPM release (default 1)
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
say() { echo "build.sh: $*" >&2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
outdir=$(cd "$1" && pwd)
release=${ISCSI_UP_RPM_RELEASE:-1}

# shellcheck source=packaging/common.sh
source "$repo/packaging/common.sh"

# VERSION from Directory.Build.props; rpm forbids '-' in a version, '~' sorts a pre-release first.
version=$(package_version)
rpm_version=${version//-/\~}
[[ $rpm_version =~ ^[A-Za-z0-9._+~^]+$ ]] || { say "version \"$version\" cannot be an RPM version"; exit 1; }
[[ $release =~ ^[A-Za-z0-9._+~^]+$ ]] || { say "release \"$release\" cannot be an RPM release"; exit 1; }

# Build tools (Debian package names), installed when missing and we are root.
need=()
command -v rpmbuild >/dev/null || need+=(rpm)
command -v rpmlint >/dev/null || need+=(rpmlint)
read -ra tools <<<"$(binary_build_tools | paste -sd' ')"
need+=("${tools[@]}")
install_build_tools "${need[@]}" || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-up-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
sources=$work/SOURCES
mkdir -p "$sources"

# 1. The executable, checked for RHEL 8's glibc. 2. The man page, with the package's version.
package_binary "$sources/iscsi-up" || exit 1
package_man_page "$version" "$sources/iscsi-up.8.gz" || exit 1

# 3. The other sources.
for unit in iscsi-up.service iscsi-upd.service iscsi-upd.socket; do
  cp -p "$repo/packaging/systemd/$unit" "$sources/$unit"
done
cp -p "$repo/packaging/rpm/iscsi-up.tmpfiles.conf" "$sources/iscsi-up.tmpfiles.conf"
cp -p "$repo/README.md" "$sources/README.md"
cp -p "$repo/packaging/completion/iscsi-up.bash" "$sources/iscsi-up.bash"
cp -p "$repo/packaging/completion/_iscsi-up" "$sources/_iscsi-up"
cp -p "$repo/packaging/udev/59-iscsi-up.rules" "$sources/59-iscsi-up.rules"
license_define=()
for name in LICENSE LICENSE.md LICENSE.txt COPYING; do
  if [ -f "$repo/$name" ]; then
    cp -p "$repo/$name" "$sources/LICENSE"
    license_define=(--define "with_license 1")
    break
  fi
done
[ ${#license_define[@]} -gt 0 ] || say "warning: no LICENSE file in $repo: the package ships no license text"

# 4. rpmbuild, in a private topdir; the RPM goes to OUTDIR/x86_64/.
rpm_file=$outdir/x86_64/iscsi-up-$rpm_version-$release.x86_64.rpm
rm -f "$rpm_file"
say "rpmbuild -bb iscsi-up $rpm_version-$release"
rpmbuild -bb --target x86_64 \
  --define "_topdir $work/rpmbuild" \
  --define "_sourcedir $sources" \
  --define "_rpmdir $outdir" \
  --define "_build_name_fmt %{ARCH}/%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm" \
  --define "pkg_version $rpm_version" \
  --define "pkg_release $release" \
  "${license_define[@]}" \
  "$repo/packaging/rpm/iscsi-up.spec" >&2
[ -f "$rpm_file" ] || { say "rpmbuild did not leave $rpm_file"; exit 1; }
echo "$rpm_file"
