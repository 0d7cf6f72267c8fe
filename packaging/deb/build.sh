#!/usr/bin/env bash
# Builds the iscsi-up .deb for Debian 11 and later and Ubuntu 22.04 and later (amd64), from the same tree
# and the same executable as the RPM (packaging/common.sh):
#   packaging/deb/build.sh OUTDIR   ->   OUTDIR/iscsi-up_VERSION-REVISION_amd64.deb
# The package: /usr/bin/iscsi-up, the three units (packaging/systemd), the tmpfiles.d snippet for
# /run/iscsi-up, the man page, /etc/iscsi-up with nodes/ and secrets/ (0700), the copyright file and the
# Debian changelog; postinst/prerm/postrm do what the RPM's scriptlets do (packaging/deb/*). Put together
# with dpkg-deb (no debhelper: there is nothing to compile), with file dates from the last commit, so the
# same tree gives the same bytes. Progress goes to stderr; the last line on stdout is the path of the .deb.
#
# Environment:
#   ISCSI_UP_BINARY=PATH       package this already-published executable instead of publishing again
#   ISCSI_UP_DEB_REVISION=N    the Debian revision (default 1)
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 OUTDIR" >&2; exit 2; }
say() { echo "build.sh: $*" >&2; }

repo=$(cd "$(dirname "$0")/../.." && pwd)
here=$repo/packaging/deb
mkdir -p "$1"
outdir=$(cd "$1" && pwd)
revision=${ISCSI_UP_DEB_REVISION:-1}

# shellcheck source=packaging/common.sh
source "$repo/packaging/common.sh"

# Debian's version: '~' sorts a pre-release (0.2.0-rc1 -> 0.2.0~rc1) first, as in the RPM.
version=$(package_version)
deb_version=${version//-/\~}-$revision
[[ $deb_version =~ ^[0-9][A-Za-z0-9.+~]*-[A-Za-z0-9.+~]+$ ]] || { say "\"$deb_version\" cannot be a Debian version"; exit 1; }
# The changelog's newest entry must be this version, as dpkg-parsechangelog would insist.
top=$(sed -n '1s/^iscsi-up (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$top" = "$deb_version" ] || { say "packaging/deb/changelog's newest entry is $top, not $deb_version: add an entry"; exit 1; }

read -ra need <<<"$(binary_build_tools | paste -sd' ')"
command -v dpkg-deb >/dev/null || need+=(dpkg)
install_build_tools "${need[@]}" || exit 1

work=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-up-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
root=$work/root
doc=$root/usr/share/doc/iscsi-up
install -d -m 0755 "$root/usr/bin" "$root/lib/systemd/system" "$root/lib/udev/rules.d" "$root/usr/lib/tmpfiles.d" \
  "$root/usr/share/man/man8" "$doc" "$root/DEBIAN"
install -d -m 0700 "$root/etc/iscsi-up" "$root/etc/iscsi-up/nodes" "$root/etc/iscsi-up/secrets"

package_binary "$root/usr/bin/iscsi-up" || exit 1
chmod 0755 "$root/usr/bin/iscsi-up"
package_man_page "$version" "$root/usr/share/man/man8/iscsi-up.8.gz" || exit 1
for unit in iscsi-up.service iscsi-upd.service iscsi-upd.socket; do
  install -m 0644 "$repo/packaging/systemd/$unit" "$root/lib/systemd/system/$unit"
done
install -m 0644 "$repo/packaging/rpm/iscsi-up.tmpfiles.conf" "$root/usr/lib/tmpfiles.d/iscsi-up.conf"
install -m 0644 "$repo/packaging/udev/59-iscsi-up.rules" "$root/lib/udev/rules.d/59-iscsi-up.rules"
install -m 0644 "$here/copyright" "$doc/copyright"
gzip -n -9 -c "$here/changelog" > "$doc/changelog.Debian.gz"
gzip -n -9 -c "$repo/README.md" > "$doc/README.md.gz"
chmod 0644 "$doc"/*.gz "$root/usr/share/man/man8/iscsi-up.8.gz"
install -m 0644 "$here/lintian-overrides" -D "$root/usr/share/lintian/overrides/iscsi-up"

for script in postinst prerm postrm; do install -m 0755 "$here/$script" "$root/DEBIAN/$script"; done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$deb_version/" -e "s/@SIZE@/$size/" "$here/control" > "$root/DEBIAN/control"
chmod 0644 "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

# Reproducible: every date is the last commit's (or 0 outside git), owners root, a fixed order.
epoch=${SOURCE_DATE_EPOCH:-$(git -C "$repo" log -1 --format=%ct 2>/dev/null || echo 0)}
find "$root" -exec touch -h -d "@$epoch" {} +
deb_file=$outdir/iscsi-up_${deb_version}_amd64.deb
rm -f "$deb_file"
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb_file" >&2
echo "$deb_file"
