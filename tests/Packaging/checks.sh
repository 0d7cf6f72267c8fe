# Sourced by the packaging tests: one PASS/FAIL line per check, then "N passed, M failed" (which .ci/run counts).
started=$(date +%s)
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
