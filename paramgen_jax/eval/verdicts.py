"""Verdicts: do the generated models beat each baseline? One one-sided test per split and baseline.

    found = report_verdicts(splits, generated_test, baseline_test, task_baselines, selection)
    found[0]["verdict"]    # 'beats' | 'not distinguishable' | 'worse'

The test, for one split (seen or unseen) and one baseline, over the split's tasks that have
both generated models and baseline values:
  * ≥ 2 such tasks: paired over tasks. Wilcoxon signed-rank of the differences
    (per-task mean accuracy of the generated models) − (per-task mean of the baseline's).
  * one such task: over its models. Mann–Whitney U of the generated models' accuracies
    against the baseline models'; when the baseline is a single model (a soup), Wilcoxon
    signed-rank of the generated models' accuracies minus that one value; with a single value
    on each side there is no test (test 'none', p = 1 both ways).
Zero differences (|d| ≤ ZERO) carry no sign: signed-rank tests drop them (Wilcoxon's rule) and
count them in 'zero_differences'; with none left p = 1 both ways. p-values are scipy.stats'
(method 'auto': exact for small samples without ties, normal approximation otherwise).
'beats': the one-sided p (generated > baseline) is below α; 'worse': the opposite one-sided p
is; otherwise 'not distinguishable'. The schema of a verdict is in `eval.report`.
"""

from __future__ import annotations

import math
from typing import Mapping, NamedTuple, Sequence

import numpy as np
from scipy import stats as sps

ALPHA = 0.05
ZERO = 1e-9  # a difference of accuracies (percent) this small is a tie


class Outcome(NamedTuple):
  """A one-sided test both ways: p_greater for generated > baseline, p_less for <."""
  test: str  # 'wilcoxon_signed_rank' | 'mann_whitney_u' | 'none'
  unit: str  # 'tasks' | 'models'
  n_generated: int
  n_baseline: int
  statistic: float | None
  p_greater: float
  p_less: float
  zero_differences: int
  min_p: float  # the smallest one-sided p the sample sizes allow (exact, no ties or zeros)


def _p(value) -> float:
  return float(value) if np.isfinite(value) else 1.0


def signed_rank(d: np.ndarray, unit: str, n_baseline: int) -> Outcome:
  """Wilcoxon signed-rank of differences d (n,), zero differences dropped; statistic: the
  sum of the ranks of the positive differences."""
  d = np.asarray(d, np.float64)
  kept = d[np.abs(d) > ZERO]
  zeros = int(d.size - kept.size)
  if kept.size == 0:
    return Outcome("wilcoxon_signed_rank", unit, d.size, n_baseline, 0.0, 1.0, 1.0, zeros,
                   0.5 ** d.size)
  greater = sps.wilcoxon(kept, alternative="greater")
  less = sps.wilcoxon(kept, alternative="less")
  return Outcome("wilcoxon_signed_rank", unit, d.size, n_baseline, float(greater.statistic),
                 _p(greater.pvalue), _p(less.pvalue), zeros, 0.5 ** d.size)


def paired_test(generated: np.ndarray, baseline: np.ndarray) -> Outcome:
  """Over tasks: generated (T,) and baseline (T,) per-task mean accuracies, paired."""
  generated, baseline = np.asarray(generated, np.float64), np.asarray(baseline, np.float64)
  return signed_rank(generated - baseline, "tasks", baseline.size)


def model_test(generated: np.ndarray, baseline: np.ndarray) -> Outcome:
  """Over the models of one task: generated (S,) and baseline (K,) accuracies."""
  generated, baseline = np.asarray(generated, np.float64), np.asarray(baseline, np.float64)
  if generated.size == 1 and baseline.size == 1:
    return Outcome("none", "models", 1, 1, None, 1.0, 1.0, 0, 1.0)
  if baseline.size == 1:
    return signed_rank(generated - baseline[0], "models", 1)
  greater = sps.mannwhitneyu(generated, baseline, alternative="greater")
  less = sps.mannwhitneyu(generated, baseline, alternative="less")
  return Outcome("mann_whitney_u", "models", generated.size, baseline.size,
                 float(greater.statistic), _p(greater.pvalue), _p(less.pvalue), 0,
                 1 / math.comb(generated.size + baseline.size, baseline.size))


def _finite(values) -> np.ndarray:
  values = np.asarray(values, np.float64).ravel()
  return values[np.isfinite(values)]


def compare(generated: Mapping[str, np.ndarray], baseline: Mapping[str, np.ndarray],
            tasks: Sequence[str]) -> tuple[Outcome, float, float] | None:
  """(outcome, generated mean, baseline mean) over `tasks` having both ({task: accuracies (S,)}
  and {task: (K,)}); means are over tasks of per-task means. None when no task has both."""
  both = [t for t in tasks if _finite(generated.get(t, [])).size
          and _finite(baseline.get(t, [])).size]
  if not both:
    return None
  gen = [_finite(generated[t]) for t in both]
  base = [_finite(baseline[t]) for t in both]
  gen_means = np.asarray([g.mean() for g in gen])
  base_means = np.asarray([b.mean() for b in base])
  test = paired_test(gen_means, base_means) if len(both) > 1 else model_test(gen[0], base[0])
  return test, float(gen_means.mean()), float(base_means.mean())


def verdict(split: str, baseline: str, generated: Mapping[str, np.ndarray],
            baseline_values: Mapping[str, np.ndarray], tasks: Sequence[str], *,
            oracle: bool = False, selection: str | None = None,
            alpha: float = ALPHA) -> dict | None:
  """One entry of report.json 'verdicts' (schema: `eval.report`), None without data."""
  found = compare(generated, baseline_values, tasks)
  if found is None:
    return None
  test, gen_mean, base_mean = found
  label = ("beats" if test.p_greater < alpha else
           "worse" if test.p_less < alpha else "not distinguishable")
  out = {"split": split, "baseline": baseline, "selection": selection, "oracle": oracle,
         "generated_mean": gen_mean, "baseline_mean": base_mean,
         "difference": gen_mean - base_mean, "test": test.test, "unit": test.unit,
         "n_generated": test.n_generated, "n_baseline": test.n_baseline,
         "zero_differences": test.zero_differences, "statistic": test.statistic,
         "p_value": test.p_greater, "p_value_worse": test.p_less, "min_p": test.min_p,
         "alpha": alpha, "verdict": label}
  out["sentence"] = sentence(out)
  return out


def _baseline_phrase(v: dict) -> str:
  name = v["baseline"]
  if name == "original":
    phrase = ("the original picked on the same split" if v["selection"] else "the originals")
  elif name == "soup":
    phrase = "the soup (weight average) of the task's originals"
  elif name.startswith("noise_"):
    phrase = f"the originals with σ {name[len('noise_'):]} noise"
  else:
    phrase = f"the '{name}' baseline"
  return phrase


def _test_phrase(v: dict) -> str:
  zeros = (f", {v['zero_differences']} zero difference(s) dropped"
           if v["zero_differences"] else "")
  if v["test"] == "none":
    return "one value on each side, so no test is possible"
  if v["unit"] == "tasks":
    return f"Wilcoxon signed-rank over {v['n_generated']} tasks (per-task means{zeros})"
  if v["test"] == "mann_whitney_u":
    return (f"Mann–Whitney U over {v['n_generated']} generated and {v['n_baseline']} "
            "baseline models")
  return (f"Wilcoxon signed-rank of {v['n_generated']} generated models against the one "
          f"baseline model{zeros}")


def sentence(v: dict) -> str:
  """The plain-words verdict of one entry, every number taken from it."""
  split = v["split"].capitalize()
  generated = (f"the generated models picked on the {v['selection']} split"
               if v["selection"] else "the generated models")
  verb = {"beats": "beat", "worse": "are worse than",
          "not distinguishable": "do not beat"}[v["verdict"]]
  p = {"beats": f"one-sided p = {v['p_value']:.2g}",
       "worse": f"one-sided p = {v['p_value_worse']:.2g} for 'worse'",
       "not distinguishable": f"one-sided p = {v['p_value']:.2g} for 'better', "
                              f"{v['p_value_worse']:.2g} for 'worse'"}[v["verdict"]]
  evidence = (f"{_test_phrase(v)}, {p} (α {v['alpha']:g})" if v["test"] != "none" else
              _test_phrase(v))
  if v["test"] != "none" and v["min_p"] >= v["alpha"]:
    evidence += (f"; with so few {v['unit']} no difference could reach α (the smallest "
                 f"possible p is {v['min_p']:.2g})")
  tail = ", nor are they worse" if v["verdict"] == "not distinguishable" else ""
  oracle = (" This baseline is built from the unseen task's own checkpoints, which the "
            "generator never saw: a reference, not a competitor." if v["oracle"] else "")
  return (f"{split} tasks: {generated} ({v['generated_mean']:.2f}% mean) {verb} "
          f"{_baseline_phrase(v)} ({v['baseline_mean']:.2f}%){tail}: {evidence}.{oracle}")


def selection_verdicts(selection: Mapping, alpha: float = ALPHA) -> list[dict]:
  """Verdicts of COND P-DIFF's protocol (`eval.protocol`): per task the generated model
  picked on the selection split against the original picked likewise, the soup and (where
  there is one) the nearest seen task's checkpoints, picked likewise; one value per task."""
  rows, found = selection.get("tasks", []), []
  for split in ("seen", "unseen"):
    mine = [r for r in rows if r["split"] == split]
    tasks = [r["task"] for r in mine]
    gen = {r["task"]: [r["generated_selected"]] for r in mine}
    for name, key in (("original", "original_selected"), ("soup", "soup"),
                      ("nearest seen task", "neighbour_selected")):
      base = {r["task"]: [r[key]] for r in mine if key in r}
      found.append(verdict(split, name, gen, base, tasks, alpha=alpha,
                           oracle=split == "unseen" and name != "nearest seen task",
                           selection=selection["select_on"]))
  return [v for v in found if v is not None]


def report_verdicts(splits: Mapping[str, Sequence[str]],
                    generated_test: Mapping[str, np.ndarray],
                    baseline_test: Mapping[str, Mapping[str, np.ndarray]],
                    task_baselines: Mapping[str, Mapping[str, np.ndarray]] | None = None,
                    selection: Mapping | None = None, alpha: float = ALPHA) -> list[dict]:
  """report.json 'verdicts': per split, the generated models against every zoo baseline
  (`baseline_test`: {name: {task: accuracies (K,)}}, from the task's own checkpoints, so
  marked 'oracle' on unseen tasks), every method baseline (`task_baselines`, same form) and,
  with `selection`, the selection protocol's baselines.

  Args:
    splits: {'seen' | 'unseen': the split's task names}.
    generated_test: {task: test accuracies (S,) of its generated models}.
  """
  found = []
  for split, tasks in splits.items():
    for name, values in baseline_test.items():
      found.append(verdict(split, name, generated_test, values, tasks, alpha=alpha,
                           oracle=split == "unseen"))
    for name, values in (task_baselines or {}).items():
      found.append(verdict(split, name, generated_test, values, tasks, alpha=alpha))
  found = [v for v in found if v is not None]
  return found + (selection_verdicts(selection, alpha) if selection else [])


def verdicts_markdown(verdicts: Sequence[dict]) -> list[str]:
  """The 'What the figures mean' section of report.md, one sentence per verdict."""
  alpha = verdicts[0]["alpha"] if verdicts else ALPHA
  lines = ["## What the figures mean", "",
           f"'Beat' means a one-sided test rejects at α = {alpha:g}: Wilcoxon signed-rank "
           "over tasks (per-task means, paired) when a split has two or more tasks; over "
           "models when it has one (Mann–Whitney U, or Wilcoxon signed-rank against a "
           "baseline of one model such as a soup); 'worse' is the opposite one-sided test. "
           "Each line is an entry of `verdicts` in report.json.", ""]
  if not verdicts:
    return lines + ["No generated models: nothing to compare.", ""]
  return lines + [f"- {v['sentence']}" for v in verdicts] + [""]
