# shellcheck shell=bash
# Sourced by the e2e scripts: `step NAME COMMAND...` runs a command, remembers how long it took and
# returns its status; `step_times TITLE` prints what was remembered (from an EXIT trap, so a failed
# run shows its times too). COMMAND runs where `set -e` does not apply (bash ignores it inside a
# `||`), so a function given as COMMAND checks its own commands.
declare -a step_timings=()
step() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "==> $name"
  "$@" || rc=$?
  step_timings+=("$(printf '%-48s %4ds' "$name" $((SECONDS - start)))")
  return "$rc"
}
step_times() {
  echo "==> $1"
  [ ${#step_timings[@]} = 0 ] || printf '    %s\n' "${step_timings[@]}"
}
