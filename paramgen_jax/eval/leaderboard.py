"""One table and one figure from many methods' report.json files (one protocol for all).

    cells = [leaderboard_cell(entry, report) for entry, report in ...]
    write_leaderboard(directory, cells, missing)   # leaderboard.{json,md,png}

A cell is one method on one zoo: seen and unseen generated/original accuracy (means over the
split's tasks of each task's mean), similarity of the generated models to their nearest
original (wrong-prediction IoU, parameter L2), the generator's size, its training time and
the time and XLA memory plan of generating one model, and the report's verdicts against its
baselines. `missing` rows say why a method has no cell on a zoo. Pure: no JAX.
"""

from __future__ import annotations

import json
import os
from typing import Any, Mapping, Sequence

import numpy as np

from paramgen_jax.eval.headline import split_means, verdict_groups, verdict_text


# Baselines that need no generator: what "beats the best simple baseline?" compares with.
SIMPLE_BASELINES = ("nearest seen task", "k-nearest soup", "ridge regression",
                    "class-column soup")
VERDICT_WORDS = {"beats": "yes", "not distinguishable": "tie", "worse": "no"}


def best_simple_baseline(report: dict, split: str) -> dict | None:
  """{'baseline', 'mean', 'verdict'}: the simple baseline (`SIMPLE_BASELINES`) with the best
  mean on `split` and the report's verdict of the generated models against it; None where
  the report has none on that split."""
  means = {name: b[split]["mean"] for name, b in report.get("task_baselines", {}).items()
           if name in SIMPLE_BASELINES and b.get(split)}
  if not means:
    return None
  name = max(means, key=means.get)
  verdict = next((v["verdict"] for v in report.get("verdicts", [])
                  if v["split"] == split and v["baseline"] == name and not v.get("selection")),
                 None)
  return {"baseline": name, "mean": float(means[name]), "verdict": verdict}


def _mean(stats: Mapping[str, Any] | None) -> float | None:
  return float(stats["mean"]) if stats else None


def leaderboard_cell(entry: Mapping[str, Any], report: dict) -> dict:
  """entry: {'name', 'method', 'zoo', 'command'}; report: report.json's content -> the
  cell's figures (None where the report has nothing: e.g. no unseen task)."""
  generated = report.get("similarity", {}).get("generated", {})
  inference = report.get("inference") or {}
  timing = report.get("timing_s") or {}
  return {**{k: entry[k] for k in ("name", "method", "zoo", "command")},
          "target": report.get("target"),
          "seen": split_means(report, "seen"), "unseen": split_means(report, "unseen"),
          "nn_wrong_iou": _mean(generated.get("nn_wrong_iou")),
          "nn_l2": _mean(generated.get("nn_l2")),
          "original_nn_wrong_iou": _mean(report["similarity"].get("original", {})
                                         .get("nn_wrong_iou")),
          "generator_params": inference.get("generator_params"),
          "train_s": timing.get("train"),
          "one_model_s": inference.get("seconds_per_model"),
          "one_model_bytes": inference.get("memory_bytes"),
          "verdicts": verdict_groups(report),
          "simple": {split: best_simple_baseline(report, split) for split in ("seen", "unseen")}}


def _pct(means: dict) -> str:
  if not means:
    return "–"
  return f"{means['generated']:.2f} / {means['original']:.2f} ({means['ratio']:.3f})"


def _num(value: float | None, spec: str, unit: str = "") -> str:
  return "–" if value is None else format(value, spec) + unit


def _seconds(value: float | None) -> str:
  if value is None:
    return "–"
  return f"{value * 1000:.3g} ms" if value < 1 else f"{value:.3g} s"


def table_markdown(cells: Sequence[dict]) -> list[str]:
  """Markdown lines: one row per cell."""
  lines = ["| method | zoo | seen: generated / original % (ratio) | unseen: generated / "
           "original % (ratio) | NN wrong-IoU (originals) | NN L2 | generator parameters | "
           "training | one model | its memory plan | beats the best simple baseline? "
           "(seen; unseen) | generated against baselines (one-sided, α 0.05) |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
  for c in cells:
    beat = verdict_text(c["verdicts"])
    memory = None if c["one_model_bytes"] is None else c["one_model_bytes"] / 2**20
    lines.append(
        f"| {c['method']} | {c['zoo']} | {_pct(c['seen'])} | {_pct(c['unseen'])} | "
        f"{_num(c['nn_wrong_iou'], '.2f')} ({_num(c['original_nn_wrong_iou'], '.2f')}) | "
        f"{_num(c['nn_l2'], '.3g')} | {_num(c['generator_params'], ',')} | "
        f"{_seconds(c['train_s'])} | {_seconds(c['one_model_s'])} | "
        f"{_num(memory, '.3g', ' MiB')} | {_simple(c)} | {beat or '–'} |")
  return lines


def _simple(cell: dict) -> str:
  """'yes (ridge regression 95.10%)'-style words per split, '–' where there is none."""
  found = cell.get("simple") or {}
  words = [f"{VERDICT_WORDS.get(b['verdict'], '?')} ({b['baseline']} {b['mean']:.2f}%)"
           if b else "–" for b in (found.get("seen"), found.get("unseen"))]
  return "; ".join(words)


def coverage_gaps(missing: Sequence[dict], failed: Sequence[dict]) -> list[dict]:
  """The grid's empty cells: the config's `missing` rows, then each failed or unrun entry."""
  return list(missing) + [{"method": f["method"], "zoo": f["zoo"],
                           "why": (f"**{f['error']}**" if f["error"].startswith("not run")
                                   else f"**run failed**: {f['error']}")} for f in failed]


def coverage_markdown(cells: Sequence[dict], missing: Sequence[dict],
                      zoos: Sequence[str]) -> list[str]:
  """Markdown lines: methods × zoos, '✓' where a cell is, else a note number; then the notes
  (each reason once)."""
  methods = list(dict.fromkeys([c["method"] for c in cells] + [m["method"] for m in missing]))
  notes = list(dict.fromkeys(m["why"] for m in missing))
  mark = {(c["method"], c["zoo"]): "✓" for c in cells}
  mark.update({(m["method"], m["zoo"]): f"({notes.index(m['why']) + 1})" for m in missing})
  lines = ["| method | " + " | ".join(zoos) + " |", "|---|" + "---|" * len(zoos)]
  lines += [f"| {m} | " + " | ".join(mark.get((m, z), "") for z in zoos) + " |"
            for m in methods]
  return lines + [""] + [f"({i + 1}) {why}  " for i, why in enumerate(notes)]


def _headline(cell: dict) -> tuple[str, dict]:
  """The split a cell is judged on: unseen where it has one, else seen."""
  return ("unseen", cell["unseen"]) if cell["unseen"] else ("seen", cell["seen"])


def plot_leaderboard(cells: Sequence[dict], path: str) -> None:
  """Left: generated/original accuracy per cell (seen and unseen bars). Right: one model's
  generation time against that ratio (the headline split), marker area ~ generator size."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
  labels = [f"{c['method']}\n{c['zoo']}" for c in cells]
  x = np.arange(len(cells))
  for offset, split in ((-0.2, "seen"), (0.2, "unseen")):
    ratios = [c[split]["ratio"] if c[split] else np.nan for c in cells]
    left.bar(x + offset, ratios, width=0.4, label=split)
  left.axhline(1.0, color="k", lw=0.8, ls="--")
  left.set_xticks(x, labels, fontsize=7, rotation=30, ha="right")
  left.set_ylabel("generated / original accuracy")
  finite = [c[s]["ratio"] for c in cells for s in ("seen", "unseen") if c[s]]
  left.set_ylim(max(0.0, min(finite, default=0.9) - 0.05), 1.02)
  left.legend(fontsize=8)
  for c in cells:
    split, means = _headline(c)
    if c["one_model_s"] is None or not means:
      continue
    size = 20 + 200 * np.sqrt((c["generator_params"] or 0) / 2e6)
    right.scatter(c["one_model_s"], means["ratio"], s=size, alpha=0.7)
    right.annotate(f"{c['method']} ({c['zoo']}, {split})", (c["one_model_s"], means["ratio"]),
                   fontsize=7, xytext=(4, 4), textcoords="offset points")
  right.set_xscale("log")
  right.set_xlabel("seconds to generate one model (compiled)")
  right.set_ylabel("generated / original accuracy")
  right.set_title("marker area ~ generator parameters", fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def write_leaderboard(directory: str, cells: Sequence[dict], missing: Sequence[dict],
                      preset: str, zoos: Sequence[str], failed: Sequence[dict] = ()) -> None:
  """Writes leaderboard.json ({'preset', 'cells', 'missing', 'failed', 'zoos'}),
  leaderboard.md and leaderboard.png into `directory`; `zoos`: the zoo names in column
  order."""
  os.makedirs(directory, exist_ok=True)
  with open(os.path.join(directory, "leaderboard.json"), "w") as f:
    json.dump({"preset": preset, "cells": list(cells), "missing": list(missing),
               "failed": list(failed), "zoos": list(zoos)}, f, indent=1)
  gaps = coverage_gaps(missing, failed)
  lines = [f"# Leaderboard ({preset} presets)", "", *table_markdown(cells), "",
           "Accuracy: mean over the split's tasks of each task's mean test accuracy; ratio: "
           "mean over tasks of generated / original. NN: the generated models' nearest "
           "original (the originals' own value in brackets). One model: compiled generation, "
           "median of repeated calls; memory: XLA's plan (arguments + outputs + temporaries). "
           "Baselines: 'original' and 'noise_σ' (the originals, with noise), 'soup', and each "
           "method's own (e.g. the nearest seen task); '(own)': an unseen task's own "
           "checkpoints. Simple baselines need no generator: the nearest seen task, the "
           "k-nearest soup and ridge regression fitted on the seen tasks' weights (k and λ "
           "by leave-one-task-out), D2NWG's class-column soup; yes / tie / no: the one-sided "
           "test over tasks against the best of them.", "", "## Which method runs on which zoo", "",
           *coverage_markdown(cells, gaps, zoos), "", "![leaderboard](leaderboard.png)", "",
           "## Commands", ""]
  lines += [f"* {c['method']} on {c['zoo']}: `{c['command']}`" for c in cells]
  with open(os.path.join(directory, "leaderboard.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  if cells:
    plot_leaderboard(cells, os.path.join(directory, "leaderboard.png"))
