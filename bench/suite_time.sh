#!/usr/bin/env bash
# The whole CI from a fresh clone of HEAD, timed: `CI=true bash .ci/run` (install + tests).
# Appends one JSON line to bench/results/suite_time_<machine>.jsonl. Run it with nothing else
# busy on the machine: the suite uses every core.
#   bash bench/suite_time.sh [machine-name]    (default: cpu2, the project's 2-core machine)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
machine=${1:-cpu2}
clone=$(mktemp -d)
trap 'rm -rf "$clone"' EXIT
git clone -q "$repo" "$clone/paramgen_jax"
cd "$clone/paramgen_jax"
start=$(date +%s)
status=0
CI=true /usr/bin/time -f "%U %S" -o "$clone/cpu.txt" bash .ci/run > "$clone/ci.log" 2>&1 \
  || status=$?
read -r user_s sys_s < <(tail -1 "$clone/cpu.txt") || true  # time notes a failure first
seconds=$(( $(date +%s) - start ))
summary=$(grep -E "[0-9]+ passed" "$clone/ci.log" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
tests=$(grep -E "test command finished in" "$clone/ci.log" | grep -oE "[0-9]+" | head -1 || true)
python3 - "$repo/bench/results/suite_time_${machine}.jsonl" <<PY
import json, sys
row = {"commit": "$(git rev-parse --short HEAD)", "machine": "$machine", "exit_status": $status,
       "ci_seconds": $seconds, "test_command_seconds": ${tests:-None}, "summary": "$summary",
       "cpu_user_s": ${user_s:-None}, "cpu_sys_s": ${sys_s:-None}}
open(sys.argv[1], "a").write(json.dumps(row) + "\n")
print(json.dumps(row))
PY
exit $status
