#!/usr/bin/env bash
# D2NWG's default at several commits on this machine: a worktree per commit runs
#   python launch/main.py --config=configs/d2nwg_digits.py
# from an empty workdir (skipped when its workdir already has a report), then one JSON line
# per commit goes to bench/results/d2nwg_bisect_<machine>.jsonl: the zoo's unit checksums,
# the last losses of the three training stages and the seen / unseen means of report.json.
#   bash bench/d2nwg_bisect.sh [machine] COMMIT...    e.g. cpu2 cae742f 4714237 HEAD
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
machine=$1; shift
python=${PYTHON:-$repo/.venv/bin/python}
for commit in "$@"; do
  rev=$(git -C "$repo" rev-parse --short "$commit")
  tree=$repo/runs/bisect/tree_$rev
  workdir=$repo/runs/bisect/run_$rev
  [ -d "$tree" ] || git -C "$repo" worktree add -q --detach "$tree" "$rev"
  if [ ! -f "$workdir/report.json" ]; then
    (cd "$tree" && "$python" launch/main.py --config=configs/d2nwg_digits.py --workdir="$workdir")
  fi
  PYTHONPATH=$repo "$python" - "$rev" "$workdir" "$machine" \
    "$repo/bench/results/d2nwg_bisect_$machine.jsonl" <<'PY'
import glob, json, os, sys
from paramgen_jax.eval.headline import split_means
rev, workdir, machine, out = sys.argv[1:]
report = json.load(open(os.path.join(workdir, "report.json")))
def means(split):
  return {k: split_means(report, split)[k] for k in ("generated", "original", "ratio", "tasks")}
def last_loss(stage):
  lines = open(os.path.join(workdir, stage, "metrics.jsonl")).read().splitlines()
  return json.loads(lines[-1])["loss"]
units = sorted(glob.glob(os.path.join(workdir, "zoo", "units", "*", "unit.json")))
nearest = report["task_baselines"]["nearest seen task"]["unseen"]["mean"]
row = {"commit": rev, "machine": machine,
       "zoo_checksums": [json.load(open(u))["checksum"][:16] for u in units],
       "last_loss": {s: last_loss(s) for s in ("vae", "align", "diffusion")},
       "seen": means("seen"), "unseen": means("unseen"), "unseen_nearest_seen_task": nearest}
open(out, "a").write(json.dumps(row) + "\n")
print(json.dumps(row))
PY
done
