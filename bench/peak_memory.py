"""Peak resident memory (and wall time) of whole runs of configs, one process each.

  python bench/peak_memory.py                          # every default config, in turn
  python bench/peak_memory.py --configs rpg_convnext pdiff_digits
  python bench/peak_memory.py --configs rpg_vit_tiny --zoo-from runs/zoo_digits_vit
  python bench/peak_memory.py --configs rpg_convnext:quick     # a preset

Each config runs as `launch/main.py --config=configs/<name>.py --mode=all` in a fresh
workdir under --root, in a child process; its peak resident set size is the kernel's
ru_maxrss for that child (what `/usr/bin/time -v` prints as "Maximum resident set size").
With --zoo-from the collected zoo (and a LoRA base) of that workdir is copied in first, so
collection is skipped: its memory is then the zoo config's own row. One JSON line per config
is printed and appended to --out, with the commit and the last lines the command printed
(README.md shows the main command's from here).
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULTS = ("toy_gmm", "zoo_digits_binary", "zoo_digits_convnext", "zoo_digits_vit",
            "zoo_digits_lora", "rpg_convnext", "rpg_vit_tiny", "rpg_mlp", "rpg_cnn",
            "rpg_resnet_mini", "rpg_unseen_binary",
            "pdiff_digits", "cond_pdiff_lora", "loragen_lora", "d2nwg_digits",
            "mapping_unseen_binary")


def _commit() -> str:
  found = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                         capture_output=True, text=True)
  return found.stdout.strip() or "unknown"


def run_one(spec: str, root: str, zoo_from: str | None, extra: list[str]) -> dict:
  name, _, preset = spec.partition(":")
  workdir = os.path.join(root, name + (f"_{preset}" if preset else ""))
  shutil.rmtree(workdir, ignore_errors=True)
  os.makedirs(workdir)
  if zoo_from:
    for part in ("zoo", "base"):
      if os.path.isdir(os.path.join(zoo_from, part)):
        shutil.copytree(os.path.join(zoo_from, part), os.path.join(workdir, part))
  command = [sys.executable, os.path.join(REPO, "launch", "main.py"),
             f"--config={os.path.join(REPO, 'configs', name + '.py')}"
             + (f":{preset}" if preset else ""), f"--workdir={workdir}", *extra]
  started = time.perf_counter()
  process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
  last = collections.deque(maxlen=8)
  for line in process.stdout:  # shown as it comes; the last lines are kept
    print(line, end="", flush=True)
    last.append(line.rstrip("\n").replace(REPO + os.sep, ""))  # paths relative to the repo
  _, status, usage = os.wait4(process.pid, 0)
  seconds = time.perf_counter() - started
  timing_path = os.path.join(workdir, "timing.json")
  return {"config": name, "preset": preset or None, "commit": _commit(),
          "returncode": os.waitstatus_to_exitcode(status),
          "peak_rss_gb": round(usage.ru_maxrss / 2**20, 3),  # ru_maxrss is in KiB on Linux
          "seconds": round(seconds, 1), "zoo_copied_from": zoo_from, "extra": extra,
          "stages_s": json.load(open(timing_path)) if os.path.exists(timing_path) else None,
          "cpus": os.cpu_count(), "last_lines": list(last)}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--configs", nargs="+", default=list(DEFAULTS))
  parser.add_argument("--root", default=os.path.join(REPO, "runs", "peak_memory"))
  parser.add_argument("--zoo-from", default=None, help="copy zoo/ and base/ from this workdir")
  parser.add_argument("--out", default=os.path.join(REPO, "bench", "results",
                                                    "peak_memory_cpu2.jsonl"))
  parser.add_argument("extra", nargs="*", help="more launcher flags, after --")
  args = parser.parse_args()
  for name in args.configs:
    row = run_one(name, args.root, args.zoo_from, args.extra)
    print(json.dumps(row), flush=True)
    with open(args.out, "a") as f:
      f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
