"""Renders the result tables of README.md and docs/ from their result files.

  python bench/render_docs.py            rewrites every rendered block in place
  python bench/render_docs.py --check    exit status 1 (and the blocks named) where a
                                         committed table differs from its result file

A rendered block sits between `<!-- rendered:<name> -->` and `<!-- rendered:end -->`; <name>
is a key of RENDERERS, each a function of the result files in bench/results/ only.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO, "bench", "results")
BLOCK = re.compile(r"(<!-- rendered:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- rendered:end -->)",
                   re.S)


def _leaderboard_table(folder: str) -> str:
  """The first table of a leaderboard.md the leaderboard command wrote."""
  with open(os.path.join(RESULTS, folder, "leaderboard.md")) as f:
    return next(part for part in f.read().split("\n\n") if part.startswith("| method |"))


def _jsonl(name: str) -> list[dict]:
  with open(os.path.join(RESULTS, name)) as f:
    return [json.loads(line) for line in f if line.strip()]


def _suite_time(name: str) -> str:
  rows = ["| commit | CI from a fresh clone (install + tests) | tests | exit status |",
          "|---|---|---|---|"]
  for r in _jsonl(name):
    minutes, seconds = divmod(r["ci_seconds"], 60)
    rows.append(f"| {r['commit']} | {minutes} min {seconds} s | {r['summary']} | "
                f"{r['exit_status']} |")
  return "\n".join(rows)


def _ddim(name: str) -> str:
  rows = ["| batch × dim, hidden | jitted `lax.scan` | Python loop of jitted steps | speed-up |",
          "|---|---|---|---|"]
  for r in _jsonl(name):
    rows.append(f"| {r['batch']} × {r['dim']}, {r['hidden']} | {r['scan_ms']:g} ms | "
                f"{r['python_loop_ms']:g} ms | {r['speedup']:.2f}× |")
  return "\n".join(rows)


RENDERERS = {
    "leaderboard_cpu2": lambda: _leaderboard_table("leaderboard_cpu2"),
    "leaderboard_h200": lambda: _leaderboard_table("leaderboard_h200"),
    "suite_time_cpu2": lambda: _suite_time("suite_time_cpu2.jsonl"),
    "ddim_sampling_cpu2": lambda: _ddim("ddim_sampling_cpu2.jsonl"),
    "ddim_sampling_h100": lambda: _ddim("ddim_sampling_h100.jsonl"),
}


def documents() -> list[str]:
  return [os.path.join(REPO, "README.md")] + sorted(
      glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True))


def render(text: str) -> tuple[str, list[str]]:
  """(text with every block rendered, the names of blocks whose body changed)."""
  changed = []

  def one(match):
    name = match.group("name")
    if name not in RENDERERS:
      raise KeyError(f"unknown rendered block {name!r}: add it to RENDERERS")
    body = RENDERERS[name]().strip() + "\n"
    if body != match.group("body"):
      changed.append(name)
    return match.group(1) + body + match.group(4)

  return BLOCK.sub(one, text), changed


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--check", action="store_true")
  args = parser.parse_args(argv)
  stale = []
  for path in documents():
    with open(path) as f:
      text = f.read()
    new, changed = render(text)
    stale += [f"{os.path.relpath(path, REPO)}: {name}" for name in changed]
    if changed and not args.check:
      with open(path, "w") as f:
        f.write(new)
  if args.check and stale:
    print("tables differ from their result files (run python bench/render_docs.py): "
          + "; ".join(stale), file=sys.stderr)
    return 1
  print(f"{'checked' if args.check else 'rendered'}: {len(stale)} block(s) "
        f"{'stale' if args.check else 'updated'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
