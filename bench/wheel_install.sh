#!/usr/bin/env bash
# The package as a new user installs it: a wheel built from a clean clone of HEAD, installed
# with its dependencies and the test extra into a new virtual environment outside the
# checkout, then `paramgen list` and `paramgen run toy_gmm:smoke` from an empty folder.
# Appends one JSON line to bench/results/wheel_install_<machine>.jsonl; exit status 1 if a
# step failed. (tests/test_package.py checks the same wheel in CI without the dependency
# install, which is most of this script's time.)
#   bash bench/wheel_install.sh [machine-name]    (default: cpu2)
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
machine=${1:-cpu2}
python=${PYTHON:-python3.11}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/src"
commit=$(git -C "$work/src" rev-parse --short HEAD)
step() {  # step <name> <command...>: runs it, records seconds and status
  local name=$1; shift
  local start=$(date +%s)
  if "$@" > "$work/$name.log" 2>&1; then status=0; else status=$?; fi
  echo "$name $status $(( $(date +%s) - start ))" >> "$work/steps"
  [ "$status" = 0 ] || { tail -20 "$work/$name.log" >&2; return 1; }
}
mkdir -p "$work/empty"
ok=0
step build "$python" -m pip wheel -q --no-deps -w "$work/dist" "$work/src" \
  && step venv "$python" -m venv "$work/venv" \
  && wheel=$(ls "$work"/dist/paramgen_jax-*.whl) \
  && step install "$work/venv/bin/python" -m pip install -q "${wheel}[test]" \
  && step list bash -c "cd '$work/empty' && '$work/venv/bin/paramgen' list" \
  && step run bash -c "cd '$work/empty' && '$work/venv/bin/paramgen' run toy_gmm:smoke --workdir=run" \
  && test -f "$work/empty/run/report.json" \
  || ok=1
configs=$(grep -c "presets:" "$work/list.log" 2>/dev/null || echo 0)
"$python" - "$repo/bench/results/wheel_install_${machine}.jsonl" "$work/steps" <<PY
import json, sys
steps = {}
for line in open(sys.argv[2]):
  name, status, seconds = line.split()
  steps[name] = {"exit_status": int(status), "seconds": int(seconds)}
row = {"commit": "$commit", "machine": "$machine", "python": "$python", "ok": $ok == 0,
       "steps": steps, "configs_listed": int("$configs")}
open(sys.argv[1], "a").write(json.dumps(row) + "\n")
print(json.dumps(row))
PY
exit $ok
