# Sourced by packaging/rpm/build.sh and packaging/deb/build.sh: what both packages are made of. The caller
# defines say() and repo (the repository's root).

# package_version: VERSION from Directory.Build.props.
package_version() {
  local version
  version=$(sed -n 's:.*<Version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</Version>.*:\1:p' "$repo/Directory.Build.props" | head -n 1)
  [ -n "$version" ] || { say "no <Version> in $repo/Directory.Build.props"; return 1; }
  echo "$version"
}

# install_build_tools DEBIAN-PACKAGE...: installs the missing ones when root on Debian, else names them.
install_build_tools() {
  [ $# -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $*"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
  else
    say "missing build tools; install the Debian packages: $*"
    return 1
  fi
}

# binary_build_tools: the Debian packages package_binary needs and this machine lacks.
binary_build_tools() {
  command -v objdump >/dev/null || echo binutils
  if [ -z "${ISCSI_UP_BINARY:-}" ]; then
    # NativeAOT links with clang and needs zlib's headers; the sysroot comes from Debian's archive.
    command -v clang >/dev/null || echo clang lld
    [ -e /usr/include/zlib.h ] || echo zlib1g-dev
    [ -e /usr/share/keyrings/debian-archive-keyring.gpg ] || echo debian-archive-keyring
  fi
}

# package_binary DEST: the executable to package, as DEST: $ISCSI_UP_BINARY when set, else published now
# with packaging/sysroot/publish.sh (the reasons for that build are in that script). Either way it must be
# the self-contained NativeAOT executable and need glibc 2.28 at most (RHEL 8's), so that one binary serves
# RHEL 8, 9 and 10, Debian 11 and later, Ubuntu 22.04 and later.
package_binary() {
  local dest=$1
  if [ -n "${ISCSI_UP_BINARY:-}" ]; then
    [ -x "$ISCSI_UP_BINARY" ] || { say "ISCSI_UP_BINARY=$ISCSI_UP_BINARY is not an executable"; return 1; }
    say "packaging $ISCSI_UP_BINARY"
    cp -p "$ISCSI_UP_BINARY" "$dest"
  else
    say "publishing the NativeAOT executable (packaging/sysroot/publish.sh)"
    local publish
    publish=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-up-publish.XXXXXX")
    bash "$repo/packaging/sysroot/publish.sh" "$publish" || { rm -rf "$publish"; return 1; }
    cp -p "$publish/iscsi-up" "$dest"
    rm -rf "$publish"
  fi
  bash "$repo/packaging/sysroot/check-glibc.sh" "$dest" 2.28 >&2 ||
    { say "the executable would not start on RHEL 8"; return 1; }
  # A framework-dependent apphost (it loads libhostfxr.so) would need the .NET runtime where it runs: make
  # sure this is the self-contained NativeAOT executable.
  if [ "$(od -An -tx1 -N4 "$dest" | tr -d ' \n')" != 7f454c46 ] || grep -q libhostfxr "$dest"; then
    say "the executable to package is not a NativeAOT ELF executable (publish src/Cli with PublishAot)"; return 1
  fi
}

# package_man_page VERSION DEST.gz: packaging/man/iscsi-up.8 with VERSION in its .TH line, gzipped.
package_man_page() {
  local version=$1 dest=$2 page
  page=$(sed -E "s/^(\\.TH [^ ]+ [0-9]+ \"[^\"]*\") \"iscsi-up [^\"]*\"/\\1 \"iscsi-up $version\"/" "$repo/packaging/man/iscsi-up.8")
  grep -q "^\\.TH .*\"iscsi-up $version\"" <<<"$page" || { say "cannot set the version in the man page's .TH line"; return 1; }
  gzip -n -9 -c <<<"$page" > "$dest"
}
