#!/usr/bin/env bash
# Builds the iscsi-up RPM for RHEL (x86_64) on Debian, with Debian's rpm:
#   packaging/rpm/build.sh OUTDIR   ->   OUTDIR/x86_64/iscsi-up-VERSION-RELEASE.x86_64.rpm
# Publishes the NativeAOT executable (dotnet publish src/Cli -c Release -r linux-x64), generates the man
# page from packaging/man/iscsi-up.8, and runs rpmbuild -bb in a private _topdir that is removed afterwards,
# so running it again gives the same result. Progress goes to stderr; the last line on stdout is the
# path of the RPM.
#
# Environment:
#   ISCSI_UP_BINARY=PATH       package this already-published executable instead of publishing again
#                              (CI publishes out/bin/iscsi-up before; saves the slow AOT compile)
#   ISCSI_UP_RPM_RELEASE=N     the RPM release (default 1)
set -euo pipefail

usage() { echo "usage: $0 OUTDIR" >&2; exit 2; }
[ $# -eq 1 ] || usage
say() { echo "build.sh: $*" >&2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$1"
outdir=$(cd "$1" && pwd)
release=${ISCSI_UP_RPM_RELEASE:-1}

# VERSION from Directory.Build.props; rpm forbids '-' in a version, '~' sorts a pre-release first.
version=$(sed -n 's:.*<Version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)
[ -n "$version" ] || { say "no <Version> in $repo/Directory.Build.props"; exit 1; }
rpm_version=${version//-/\~}
[[ $rpm_version =~ ^[A-Za-z0-9._+~^]+$ ]] || { say "version \"$version\" cannot be an RPM version"; exit 1; }
[[ $release =~ ^[A-Za-z0-9._+~^]+$ ]] || { say "release \"$release\" cannot be an RPM release"; exit 1; }

# Build tools (Debian package names), installed when missing and we are root.
need=()
command -v rpmbuild >/dev/null || need+=(rpm)
command -v rpmlint >/dev/null || need+=(rpmlint)
if [ -z "${ISCSI_UP_BINARY:-}" ]; then
  # NativeAOT links with clang and needs zlib's headers.
  command -v clang >/dev/null || need+=(clang lld)
  [ -e /usr/include/zlib.h ] || need+=(zlib1g-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
  else
    say "missing build tools; install the Debian packages: ${need[*]}"
    exit 1
  fi
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-up-rpm.XXXXXX")
trap 'rm -rf "$work"' EXIT
sources=$work/SOURCES
mkdir -p "$sources"

# 1. The executable.
if [ -n "${ISCSI_UP_BINARY:-}" ]; then
  [ -x "$ISCSI_UP_BINARY" ] || { say "ISCSI_UP_BINARY=$ISCSI_UP_BINARY is not an executable"; exit 1; }
  say "packaging $ISCSI_UP_BINARY"
  cp -p "$ISCSI_UP_BINARY" "$sources/iscsi-up"
else
  say "publishing the NativeAOT executable (dotnet publish src/Cli -c Release -r linux-x64)"
  dotnet publish "$repo/src/Cli" -c Release -r linux-x64 -nologo -v quiet -o "$work/publish" >&2
  cp -p "$work/publish/iscsi-up" "$sources/iscsi-up"
fi
# A framework-dependent apphost (it loads libhostfxr.so) would need the .NET runtime on RHEL: make sure
# this is the self-contained NativeAOT executable.
if [ "$(od -An -tx1 -N4 "$sources/iscsi-up" | tr -d ' \n')" != 7f454c46 ] || grep -q libhostfxr "$sources/iscsi-up"; then
  say "the executable to package is not a NativeAOT ELF executable (publish src/Cli with PublishAot)"; exit 1
fi

# 2. The man page, with the package's version in its .TH line.
sed -E "s/^(\\.TH [^ ]+ [0-9]+ \"[^\"]*\") \"iscsi-up [^\"]*\"/\\1 \"iscsi-up $version\"/" \
  "$repo/packaging/man/iscsi-up.8" > "$work/iscsi-up.8"
grep -q "^\\.TH .*\"iscsi-up $version\"" "$work/iscsi-up.8" || { say "cannot set the version in the man page's .TH line"; exit 1; }
gzip -n -9 -c "$work/iscsi-up.8" > "$sources/iscsi-up.8.gz"

# 3. The other sources.
for unit in iscsi-up.service iscsi-upd.service iscsi-upd.socket; do
  cp -p "$repo/packaging/systemd/$unit" "$sources/$unit"
done
cp -p "$repo/packaging/rpm/iscsi-up.tmpfiles.conf" "$sources/iscsi-up.tmpfiles.conf"
cp -p "$repo/README.md" "$sources/README.md"
cp -p "$repo/packaging/completion/iscsi-up.bash" "$sources/iscsi-up.bash"
cp -p "$repo/packaging/completion/_iscsi-up" "$sources/_iscsi-up"
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
