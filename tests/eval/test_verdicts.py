"""Verdicts: known answers for both branches (models, tasks), p-values by hand and by scipy,
the sentences, and which baselines get a verdict. (End to end: tests/eval/test_eval.py.)"""

import numpy as np
import pytest
from scipy import stats as sps

from paramgen_jax.eval import verdicts as V

ONE_TASK = ["a"]
TASKS = ["a", "b", "c", "d", "e"]


def _one(gen, base, tasks=ONE_TASK, **kwargs):
  """A verdict of generated {task: gen[i]} against baseline {task: base[i]}."""
  return V.verdict("seen", "noise_0.01", dict(zip(tasks, gen)), dict(zip(tasks, base)), tasks,
                   **kwargs)


@pytest.mark.parametrize("shift, expected", [(6.0, "beats"), (0.0, "not distinguishable"),
                                             (-6.0, "worse")])
def test_one_task_compares_models(shift, expected):
  base = np.array([90.0, 91.0, 92.0, 93.0])
  v = _one([base + shift], [base])
  assert (v["test"], v["unit"], v["n_generated"], v["n_baseline"]) == (
      "mann_whitney_u", "models", 4, 4)
  assert v["verdict"] == expected and v["difference"] == pytest.approx(shift)
  assert v["min_p"] == pytest.approx(1 / 70) and "smallest possible" not in v["sentence"]
  if expected != "not distinguishable":  # fully separated: exact p = 1 / C(8, 4)
    assert min(v["p_value"], v["p_value_worse"]) == pytest.approx(1 / 70)


@pytest.mark.parametrize("shift, expected", [(1.0, "beats"), (0.0, "not distinguishable"),
                                             (-1.0, "worse")])
def test_many_tasks_compare_task_means(shift, expected):
  rng = np.random.default_rng(0)
  base = [rng.uniform(80, 95, size=3) for _ in TASKS]
  # Per-task means differ by shift × (1 + i / 10) (no tied ranks); 4 models per task.
  spread = np.array([-0.5, 0.5, -0.25, 0.25])
  gen = [b.mean() + shift * (1 + 0.1 * i) + spread for i, b in enumerate(base)]
  v = _one(gen, base, TASKS)
  assert (v["test"], v["unit"], v["n_generated"], v["n_baseline"]) == (
      "wilcoxon_signed_rank", "tasks", 5, 5)
  assert v["verdict"] == expected
  assert v["min_p"] == 1 / 32
  if shift:  # all five signs agree: exact p = 1 / 2^5
    assert min(v["p_value"], v["p_value_worse"]) == pytest.approx(1 / 32)
  else:  # every difference is zero: dropped, and nothing is left to test
    assert v["zero_differences"] == 5 and v["p_value"] == v["p_value_worse"] == 1.0
  # Four tasks can never give p < 0.05 (1 / 2^4 at best): the sentence says so.
  four = _one(gen[:4], base[:4], TASKS[:4])
  assert four["verdict"] == "not distinguishable" and four["min_p"] == 1 / 16
  assert "with so few tasks no difference could reach α (the smallest possible p is 0.062)" in (
      four["sentence"])


def test_p_values_by_hand_and_scipy():
  # Signed-rank, d = (1, 2, 3, 4, -5): W+ = 10; 10 of the 32 sign patterns have W+ >= 10.
  test = V.paired_test([91.0, 92.0, 93.0, 94.0, 85.0], [90.0] * 5)
  assert (test.statistic, test.p_greater) == (10.0, pytest.approx(10 / 32))
  assert test.p_less == pytest.approx(sps.wilcoxon([1, 2, 3, 4, -5], alternative="less").pvalue)
  # A zero difference is dropped before the test (Wilcoxon's rule); ties agree with scipy.
  d = np.array([1.5, -0.5, 2.0, 2.0, 0.0, 4.0])
  test = V.paired_test(90.0 + d, np.full(6, 90.0))
  expected = sps.wilcoxon(d[d != 0], alternative="greater")
  assert test.zero_differences == 1 and test.n_generated == 6
  assert (test.statistic, test.p_greater) == (pytest.approx(expected.statistic),
                                              pytest.approx(expected.pvalue))
  # Mann–Whitney, (3, 5) against (1, 2, 4): U = 5; 2 of the C(5, 2) = 10 orders have U >= 5.
  test = V.model_test([3.0, 5.0], [1.0, 2.0, 4.0])
  assert (test.statistic, test.p_greater) == (5.0, pytest.approx(0.2))
  assert test.p_less == pytest.approx(
      sps.mannwhitneyu([3.0, 5.0], [1.0, 2.0, 4.0], alternative="less").pvalue)


def test_one_baseline_model_and_one_value_each():
  # A soup is one model: its value is compared with each generated model (signed-rank).
  v = _one([np.arange(10) + 91.0], [[90.0]])
  assert (v["test"], v["unit"], v["n_baseline"], v["verdict"]) == (
      "wilcoxon_signed_rank", "models", 1, "beats")
  assert v["p_value"] == pytest.approx(1 / 2 ** 10)
  v = _one([[99.0]], [[90.0]])  # one value on each side: no test
  assert (v["test"], v["statistic"], v["p_value"], v["verdict"]) == (
      "none", None, 1.0, "not distinguishable")
  assert v["sentence"].endswith("(90.00%), nor are they worse: one value on each side, so no "
                                "test is possible.")


def test_sentence_says_it_with_the_data():
  # The seen ConvNeXt demo's figures: 10 generated models at 98.75%, 10 noised at 98.72%.
  gen = np.array([98.5, 99.0, 98.75, 98.6, 98.9, 98.75, 98.8, 98.7, 98.65, 98.85])
  base = np.array([98.6, 98.9, 98.7, 98.8, 98.5, 98.85, 98.72, 98.65, 98.75, 98.73])
  v = _one([gen], [base])
  assert v["verdict"] == "not distinguishable"
  p = sps.mannwhitneyu(gen, base, alternative="greater").pvalue
  assert v["sentence"] == (
      f"Seen tasks: the generated models (98.75% mean) do not beat the originals with "
      f"σ 0.01 noise (98.72%), nor are they worse: Mann–Whitney U over 10 generated and 10 "
      f"baseline models, one-sided p = {p:.2g} for 'better', {v['p_value_worse']:.2g} for "
      f"'worse' (α 0.05).")
  v = _one([gen + 5], [base], alpha=0.01)
  assert v["alpha"] == 0.01 and v["sentence"].endswith(f"p = {v['p_value']:.2g} (α 0.01).")
  v = V.verdict("unseen", "soup", {"u": gen}, {"u": [97.0]}, ["u"], oracle=True)
  assert v["sentence"].startswith(
      "Unseen tasks: the generated models (98.75% mean) beat the soup (weight average) of the "
      "task's originals (97.00%): Wilcoxon signed-rank of 10 generated models against the one "
      "baseline model")
  assert v["sentence"].endswith("which the generator never saw: a reference, not a competitor.")


def test_report_verdicts_cover_each_split_and_baseline():
  splits = {"seen": ["a", "b"], "unseen": ["u"]}
  generated = {"a": [95.0, 96.0], "b": [97.0], "u": [80.0, 81.0]}
  zoo = {"original": {"a": [94.0], "b": [96.0], "c": [1.0], "u": [90.0, 91.0]},
         "soup": {"a": [93.0], "b": [95.0], "u": [89.0]}}
  method = {"nearest seen task": {"u": [70.0, 71.0]}, "VAE": {"a": [90.0]}}
  selection = {"select_on": "train", "tasks": [
      {"task": "a", "split": "seen", "generated_selected": 96.0, "original_selected": 94.0,
       "soup": 93.0},
      {"task": "u", "split": "unseen", "generated_selected": 81.0, "original_selected": 91.0,
       "soup": 89.0, "neighbour_selected": 71.0}]}
  found = V.report_verdicts(splits, generated, zoo, method, selection)
  keys = [(v["split"], v["baseline"], v["selection"], v["unit"], v["oracle"]) for v in found]
  assert keys == [
      ("seen", "original", None, "tasks", False), ("seen", "soup", None, "tasks", False),
      ("seen", "VAE", None, "models", False),
      ("unseen", "original", None, "models", True), ("unseen", "soup", None, "models", True),
      ("unseen", "nearest seen task", None, "models", False),
      ("seen", "original", "train", "models", False), ("seen", "soup", "train", "models", False),
      ("unseen", "original", "train", "models", True),
      ("unseen", "soup", "train", "models", True),
      ("unseen", "nearest seen task", "train", "models", False)]
  seen_original = found[0]  # task means (95.5, 97) against (94, 96); task 'c' has no models
  assert (seen_original["generated_mean"], seen_original["baseline_mean"]) == (96.25, 95.0)
  assert "never saw" in found[3]["sentence"] and "never saw" not in found[5]["sentence"]
  markdown = V.verdicts_markdown(found)
  assert markdown[0] == "## What the figures mean" and "α = 0.05" in markdown[2]
  assert [line[2:] for line in markdown if line.startswith("- ")] == [
      v["sentence"] for v in found]
  assert V.report_verdicts(splits, {}, zoo) == []
