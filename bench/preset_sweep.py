"""Runs several presets of one config on one collected zoo and prints a JSON line per preset.

  python bench/preset_sweep.py --config configs/d2nwg_digits.py --zoo runs/d2nwg_digits \
      --shared zoo backbone --presets default no_vae ... [--out results.jsonl] [-- flags]

Each preset runs the launcher in <root>/<preset> with the `--shared` entries copied from --zoo
(a finished run, so every preset sees the same zoo), without the noise baselines; launcher
flags after `--` apply to every run. With --reuse, a preset whose workdir already holds a
finished run's report.json (a run of the same command made earlier) is read, not run again:
its row has no `seconds`, only the run's own stage times, and its `commit` is this
checkout's (a report does not name the commit it ran at: read runs made at HEAD). A row
holds, per split, the mean generated accuracy (each task's mean over its generated models,
no selection), the originals', the mean per-task ratio
and every per-task baseline's mean, the verdict against the best simple baseline
(`eval.leaderboard.best_simple_baseline`), plus the commit, the run's seconds and its stage
times.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from paramgen_jax.eval.headline import split_means  # noqa: E402
from paramgen_jax.eval.leaderboard import best_simple_baseline  # noqa: E402


def head_commit() -> str:
  """The checkout's commit (short), which a result row names."""
  return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                        capture_output=True, text=True).stdout.strip()


def emit(row: dict, out: str) -> None:
  """Prints a result row as one JSON line and appends it to `out` (when given)."""
  print(json.dumps(row), flush=True)
  if out:
    with open(out, "a") as f:
      f.write(json.dumps(row) + "\n")


def workdir_and_out(doc: str) -> tuple[str, str]:
  """(--workdir, --out) of a bench that reads one finished run and writes one row."""
  parser = argparse.ArgumentParser(description=doc.splitlines()[0])
  parser.add_argument("--workdir", required=True, help="a finished run")
  parser.add_argument("--out", default="", help="the results file to append the row to")
  args = parser.parse_args()
  return args.workdir, args.out


def rounded_means(report: dict, split: str) -> dict:
  """`split_means` of a report, rounded for a result row: ratios to 4 places, accuracies to
  2."""
  return {k: v if k == "tasks" else round(v, 4 if k == "ratio" else 2)
          for k, v in split_means(report, split).items()}


def run(config: str, preset: str, zoo: str, shared: list[str], root: str, extra: list[str],
        bench: str, reuse: bool = False) -> dict:
  workdir = os.path.join(root, preset)
  if reuse and os.path.exists(os.path.join(workdir, "report.json")):
    return result_row(json.load(open(os.path.join(workdir, "report.json"))), preset, extra,
                      bench, seconds=None)
  os.makedirs(workdir, exist_ok=True)
  for name in shared:
    source, target = os.path.join(zoo, name), os.path.join(workdir, name)
    if not os.path.exists(target):
      (shutil.copytree if os.path.isdir(source) else shutil.copy)(source, target)
  start = time.perf_counter()
  spec = config + ("" if preset == "default" else ":" + preset)
  result = subprocess.run([sys.executable, "launch/main.py", f"--config={spec}",
                           f"--workdir={workdir}", "--config.eval.noise_sigmas=()", *extra],
                          cwd=REPO, capture_output=True, text=True)
  if result.returncode != 0:
    sys.exit(f"{preset}: the run failed: {result.stderr.strip().splitlines()[-1]}")
  report = json.load(open(os.path.join(workdir, "report.json")))
  return result_row(report, preset, extra, bench, round(time.perf_counter() - start, 1))


def result_row(report: dict, preset: str, extra: list[str], bench: str,
               seconds: float | None) -> dict:
  """One JSON row of a finished run's report (see the module's docstring)."""
  row = {"bench": bench, "preset": preset, "extra": extra, "commit": head_commit(),
         "seen": rounded_means(report, "seen"), "unseen": rounded_means(report, "unseen"),
         "seconds": seconds, "stages_s": report.get("timing_s")}
  for split in ("seen", "unseen"):
    best = best_simple_baseline(report, split)
    if best:
      row[split]["best simple baseline"] = {k: best[k] for k in ("baseline", "verdict")}
  return row


def sweep(config: str, zoo: str, shared: list[str], presets: list[str], root: str,
          extra: list[str], out: str, bench: str, reuse: bool = False) -> None:
  for name in shared:
    if not os.path.exists(os.path.join(zoo, name)):
      sys.exit(f"--zoo {zoo} has no {name}: run {config} there first")
  for preset in presets:
    emit(run(config, preset, os.path.abspath(zoo), shared, root, extra, bench, reuse), out)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", required=True)
  parser.add_argument("--zoo", required=True, help="a finished run of --config")
  parser.add_argument("--shared", nargs="*", default=["zoo"])
  parser.add_argument("--presets", nargs="+", required=True)
  parser.add_argument("--root", default="")
  parser.add_argument("--out", default="")
  parser.add_argument("--reuse", action="store_true",
                      help="read a preset's finished run in <root>/<preset> instead of running it")
  parser.add_argument("extra", nargs="*", help="more launcher flags, after --")
  args = parser.parse_args()
  name = os.path.splitext(os.path.basename(args.config))[0]
  sweep(args.config, args.zoo, args.shared, args.presets,
        args.root or os.path.join(REPO, "runs", f"{name}_sweep"), args.extra, args.out,
        f"{name}_sweep", args.reuse)


if __name__ == "__main__":
  main()
