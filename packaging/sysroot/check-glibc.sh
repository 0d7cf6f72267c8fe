#!/usr/bin/env bash
# Checks that an executable runs on RHEL 8's glibc: no dynamic symbol needs a glibc version above 2.28.
#   packaging/sysroot/check-glibc.sh EXECUTABLE [CEILING]     (CEILING defaults to 2.28)
# Prints "EXECUTABLE needs GLIBC_x.y at most" and exits 0, or names the symbols above CEILING and exits 1.
set -euo pipefail
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 EXECUTABLE [CEILING]" >&2; exit 2; }
binary=$1 ceiling=${2:-2.28}
command -v objdump >/dev/null || { echo "check-glibc.sh: objdump is needed (apt-get install binutils)" >&2; exit 1; }
[ -f "$binary" ] || { echo "check-glibc.sh: no file $binary" >&2; exit 1; }
# objdump -T lines end with "(GLIBC_2.17) clock_gettime" (or without parentheses for a defined symbol).
symbols=$(objdump -T "$binary" | sed -nE 's/.*[( ]GLIBC_([0-9.]+)\)? +([^ ]+)$/\1 \2/p')
[ -n "$symbols" ] || { echo "check-glibc.sh: $binary has no glibc symbols (not a dynamically linked glibc executable?)" >&2; exit 1; }
newest=$(cut -d' ' -f1 <<<"$symbols" | sort -V | tail -n 1)
above=$(while read -r version symbol; do
          [ "$(printf '%s\n' "$version" "$ceiling" | sort -V | tail -n 1)" = "$ceiling" ] || echo "$symbol@GLIBC_$version"
        done <<<"$symbols" | sort -u)
if [ -n "$above" ]; then
  count=$(wc -l <<<"$above")
  examples=$(head -n 5 <<<"$above" | paste -sd' ')
  [ "$count" -le 5 ] || examples+=" and $((count - 5)) more"
  echo "$binary needs GLIBC_$newest, above $ceiling (RHEL 8 has 2.28): $examples (link it with packaging/sysroot/publish.sh)" >&2
  exit 1
fi
echo "$binary needs GLIBC_$newest at most"
