"""`paramgen leaderboard`: runs every method of the leaderboard config, then writes one table
and one figure (in a checkout, also `python launch/leaderboard.py`).

  paramgen leaderboard --config=leaderboard[:smoke] --workdir=runs/leaderboard
      [--only rpg_convnext mapping_unseen_binary] [--rerun] [--report-only]

Each entry runs `paramgen run <its config>[:<preset>]` in <workdir>/<entry> as its own
process (one failing or killed entry costs only its cell; its last error line is in the
table). An entry whose report.json exists is not run again (--rerun runs it again; a killed
run resumes from its checkpoints). Before an entry runs, a zoo collected by an earlier entry
with the same zoo sections is copied into its workdir. --report-only rebuilds the table from
the reports there. Each cell's report.json is copied to <workdir>/reports/<entry>.json.
Exit status 1 when some entry failed or has no report (the table is written anyway, with the
error line, or 'not run', in that entry's place).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import time

from paramgen_jax.configlib import ConfigError, load_config
from paramgen_jax.eval.leaderboard import leaderboard_cell, write_leaderboard
from paramgen_jax.integrity import atomic_write_json
from paramgen_jax.zoo.spec import copy_zoo

# The config sections a collected zoo (and a LoRA zoo's base model) is made from.
ZOO_SECTIONS = ("data", "model", "tasks", "collect", "adapter", "features")


def config_arg(entry: dict) -> str:
  """The entry's --config value: configs/x.py[:preset]."""
  return entry["config"] + (f":{entry['preset']}" if entry["preset"] else "")


def zoo_key(entry: dict) -> str | None:
  """The entry's zoo sections as JSON: equal keys, interchangeable collected zoos (None when
  the config does not load: its run then fails with the launcher's one-line error)."""
  try:
    config = load_config(config_arg(entry))
  except ConfigError:  # reported by the run itself
    return None
  return json.dumps({k: config[k].to_dict() if hasattr(config[k], "to_dict") else config[k]
                     for k in ZOO_SECTIONS if k in config}, sort_keys=True, default=str)


def share_zoo(workdir: str, collected: dict[str, str], key: str) -> None:
  """Copies the zoo of an earlier entry with the same zoo key, if any."""
  source = collected.get(key) if key else None
  if source:
    copy_zoo(source, workdir)


def run_entry(entry: dict, workdir: str) -> str | None:
  """Runs one entry's pipeline in `workdir`; None on success, else its last error line."""
  command = [sys.executable, "-m", "paramgen_jax.cli", "run", config_arg(entry),
             f"--workdir={workdir}"]
  print(f"leaderboard: {entry['name']}: paramgen {' '.join(command[3:])}", flush=True)
  start = time.perf_counter()
  # The run's progress bars and errors go to the console as they come; the tail is kept.
  process = subprocess.Popen(command, stderr=subprocess.PIPE)
  tail = collections.deque(maxlen=64)
  for chunk in iter(lambda: process.stderr.read1(4096), b""):
    sys.stderr.buffer.write(chunk)
    sys.stderr.flush()
    tail.append(chunk)
  code = process.wait()
  print(f"leaderboard: {entry['name']}: exit {code} after "
        f"{time.perf_counter() - start:.0f} s", flush=True)
  if code == 0:
    return None
  text = b"".join(tail).decode(errors="replace").replace("\r", "\n")
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  return lines[-1] if lines else f"exit status {code}"


def command_of(entry: dict) -> str:
  return f"python launch/main.py --config={config_arg(entry)}"


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(prog="paramgen leaderboard", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("--config", default="configs/leaderboard.py")
  parser.add_argument("--workdir", default=None)
  parser.add_argument("--only", nargs="*", default=None, help="entry names to run")
  parser.add_argument("--rerun", action="store_true")
  parser.add_argument("--report-only", action="store_true")
  args = parser.parse_args(argv)
  try:
    config = load_config(args.config)
  except ConfigError as e:
    parser.error(f"--config: {e}")
  root = os.path.abspath(args.workdir
                         or os.path.join("runs", f"leaderboard_{config.preset}"))
  unknown = set(args.only or ()) - {e["name"] for e in config.entries}
  if unknown:
    parser.error(f"--only: unknown entries {sorted(unknown)}; known: "
                 f"{', '.join(e['name'] for e in config.entries)}")
  keys = {e["name"]: zoo_key(e) for e in config.entries}
  collected = {}  # zoo key -> a workdir holding that zoo (from this run or an earlier one)
  for e in config.entries:
    if os.path.isdir(os.path.join(root, e["name"], "zoo")):
      collected.setdefault(keys[e["name"]], os.path.join(root, e["name"]))
  cells, failed = [], []
  for entry in config.entries:
    entry = dict(entry)
    workdir = os.path.join(root, entry["name"])
    report_path = os.path.join(workdir, "report.json")
    chosen = args.only is None or entry["name"] in args.only
    key = keys[entry["name"]]
    if chosen and not args.report_only and (args.rerun or not os.path.exists(report_path)):
      os.makedirs(workdir, exist_ok=True)
      share_zoo(workdir, collected, key)
      error = run_entry(entry, workdir)
    else:
      error = None
    if os.path.isdir(os.path.join(workdir, "zoo")):
      collected.setdefault(key, workdir)
    if error:
      failed.append({"method": entry["method"], "zoo": config.zoos[entry["zoo"]],
                     "error": error})
      continue
    if not os.path.exists(report_path):
      failed.append({"method": entry["method"], "zoo": config.zoos[entry["zoo"]],
                     "error": f"not run: no {os.path.relpath(report_path, root)}"})
      continue
    with open(report_path) as f:
      report = json.load(f)
    # every cell's whole report beside the table, so the folder alone backs every figure
    os.makedirs(os.path.join(root, "reports"), exist_ok=True)
    atomic_write_json(os.path.join(root, "reports", f"{entry['name']}.json"), report)
    cells.append(leaderboard_cell({**entry, "zoo": config.zoos[entry["zoo"]],
                                   "command": command_of(entry)}, report))
  missing = [{**m, "zoo": config.zoos[m["zoo"]]} for m in config.missing]
  zoos = [config.zoos[z] for z in config.zoo_order]
  write_leaderboard(root, cells, missing, config.preset, zoos, failed)
  print(f"leaderboard: {len(cells)} cells, {len(failed)} failed -> "
        f"{os.path.join(root, 'leaderboard.md')}")
  return 1 if failed else 0
