# Sourced by the packaging tests (source "$(dirname "$0")/checks.sh"): moves to the repository's root and
# sets repo, version (Directory.Build.props) and work (a private directory, removed on exit); one PASS/FAIL
# line per check, then "N passed, M failed" (which .ci/run counts).
started=$(date +%s)
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$repo" || exit 1
version=$(sed -n 's:.*<Version>[[:space:]]*\([^<[:space:]]*\)[[:space:]]*</Version>.*:\1:p' Directory.Build.props | head -n 1)
work=$(mktemp -d "${TMPDIR:-/tmp}/iscsi-up-$(basename "$0" .sh).XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
# check DESCRIPTION COMMAND...: PASS when the command succeeds.
check() { local what=$1; shift; if "$@"; then pass "$what"; else fail "$what"; fi; }
# finish: the summary; exits non-zero when a check failed.
finish() {
  echo "$(basename "$0") took $(($(date +%s) - started)) s"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit
}
