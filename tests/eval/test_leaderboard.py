"""The leaderboard's table from reports: known figures, every empty cell explained."""

import json
import os

import pytest

from paramgen_jax.eval.headline import split_means
from paramgen_jax.eval.leaderboard import best_simple_baseline, leaderboard_cell, write_leaderboard
from tests.helpers import load_config


def _row(task, original, generated):
  return {"task": task, "original": {"mean": original},
          "generated": {"mean": generated} if generated is not None else {}}


def _report():
  return {
      "target": "mlp",
      "seen": [_row("a", 90.0, 81.0), _row("b", 80.0, 80.0), _row("c", 70.0, None)],
      "unseen": [],
      "task_baselines": {"nearest seen task": {"seen": {"mean": 50.0}, "unseen": {}}},
      "similarity": {"generated": {"nn_wrong_iou": {"mean": 0.5}, "nn_l2": {"mean": 2.0}},
                     "original": {"nn_wrong_iou": {"mean": 0.9}}},
      "inference": {"generator_params": 1234, "seconds_per_model": 0.01,
                    "memory_bytes": 2**20},
      "timing_s": {"train": 12.0},
      "verdicts": [{"split": "seen", "baseline": "soup", "verdict": "beats"},
                   {"split": "seen", "baseline": "noise_0.01", "verdict": "worse"}]}


def test_split_means_known_answer():
  means = split_means(_report(), "seen")
  # Tasks without generated models are left out: (81 + 80) / 2, (90 + 80) / 2, (0.9 + 1) / 2.
  assert means == pytest.approx({"generated": 80.5, "original": 85.0, "ratio": 0.95,
                                 "tasks": 2, "nearest seen task": 50.0})
  assert split_means(_report(), "unseen") == {}


def test_cell_and_files(tmp_path):
  entry = {"name": "x", "method": "M", "zoo": "Z", "command": "python launch/main.py ..."}
  cell = leaderboard_cell(entry, _report())
  assert cell["seen"]["ratio"] == pytest.approx(0.95) and cell["unseen"] == {}
  assert (cell["nn_wrong_iou"], cell["nn_l2"], cell["original_nn_wrong_iou"]) == (0.5, 2.0, 0.9)
  assert (cell["generator_params"], cell["train_s"], cell["one_model_s"]) == (1234, 12.0, 0.01)
  assert cell["verdicts"] == {"seen": {"beats": ["soup"], "worse": ["noise_0.01"]}}
  missing = [{"method": "M", "zoo": "W", "why": "no config: because"}]
  failed = [{"method": "N", "zoo": "Z", "error": "error: boom"}]
  write_leaderboard(str(tmp_path), [cell], missing, "smoke", ["Z", "W"], failed)
  text = (tmp_path / "leaderboard.md").read_text()
  assert "seen: beats soup; worse than noise_0.01" in text
  assert "80.50 / 85.00 (0.950)" in text and "1 MiB" in text and "10 ms" in text
  assert "no config: because" in text and "**run failed**: error: boom" in text
  assert "| M | ✓ | (1) |" in text and "| N | (2) |  |" in text
  assert "| 10 ms | 1 MiB | ? (nearest seen task 50.00%); – |" in text
  assert json.loads((tmp_path / "leaderboard.json").read_text())["failed"] == failed
  assert os.path.getsize(tmp_path / "leaderboard.png") > 0


@pytest.mark.parametrize("preset", ["smoke", None, "paper"])
def test_every_method_and_zoo_is_a_cell_or_says_why(preset):
  config = load_config("leaderboard", preset)
  methods = {e["method"] for e in config.entries}
  filled = [(e["method"], e["zoo"]) for e in config.entries]
  explained = [(m["method"], m["zoo"]) for m in config.missing]
  assert all(m["why"] for m in config.missing)
  assert not set(filled) & set(explained)
  assert sorted(set(filled) | set(explained)) == sorted(
      (m, z) for m in methods for z in config.zoos)
  assert len(explained) == len(set(explained))
  for e in config.entries:
    assert os.path.exists(e["config"]) and e["zoo"] in config.zoo_order
    load_config(os.path.basename(e["config"])[:-3], e["preset"] or None)


def test_the_best_simple_baseline_and_the_verdict_against_it():
  report = _report()
  report["task_baselines"] = {
      "nearest seen task": {"seen": {}, "unseen": {"mean": 88.0}},
      "k-nearest soup": {"seen": {"mean": 90.0}, "unseen": {"mean": 97.0}},
      "ridge regression": {"seen": {"mean": 91.0}, "unseen": {"mean": 95.0}},
      "support fine-tuned": {"seen": {}, "unseen": {"mean": 99.0}}}  # needs training: not simple
  report["verdicts"] += [
      {"split": "unseen", "baseline": "k-nearest soup", "verdict": "worse"},
      {"split": "seen", "baseline": "ridge regression", "verdict": "not distinguishable"}]
  assert best_simple_baseline(report, "unseen") == {"baseline": "k-nearest soup", "mean": 97.0,
                                                    "verdict": "worse"}
  cell = leaderboard_cell({"name": "x", "method": "M", "zoo": "Z", "command": "c"}, report)
  assert cell["simple"]["seen"] == {"baseline": "ridge regression", "mean": 91.0,
                                    "verdict": "not distinguishable"}
  from paramgen_jax.eval.leaderboard import table_markdown
  assert ("tie (ridge regression 91.00%); no (k-nearest soup 97.00%)"
          in "\n".join(table_markdown([cell])))
