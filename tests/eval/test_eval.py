"""Evaluation: known answers for IoU, distances, stats, soup, noise; tiny zoo reports."""

import json
from typing import NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from paramgen_jax import data
from paramgen_jax import params as P
from paramgen_jax.eval import baselines, similarity
from paramgen_jax.eval.entry import Report, ZooView, evaluate_generated
from paramgen_jax.eval.protocol import split_accuracy
from paramgen_jax.eval.report import ZooEvaluation, evaluate_zoo, write_report
from paramgen_jax.eval.stats import summary
from paramgen_jax.zoo import collect
from paramgen_jax.zoo import spec as zoo_spec
from paramgen_jax.zoo.accuracy import accuracy, correct_matrix, predict_many, take_sets
from paramgen_jax.zoo.models import make_target
from paramgen_jax.zoo.tasks import binary_task
from tests.helpers import load_config


def test_wrong_iou_known_answer():
  a = np.array([[1, 1, 0, 0], [0, 0, 0, 0]], bool)
  b = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], bool)
  iou = similarity.wrong_iou(a, b)
  np.testing.assert_allclose(iou, [[1 / 3, 1.0, 0.0], [0.0, 0.0, 1.0]])
  np.testing.assert_allclose(similarity.nearest(iou), [1.0, 1.0])
  square = similarity.wrong_iou(b, b)
  np.testing.assert_allclose(similarity.nearest(square, exclude_diagonal=True), [1 / 3, 1 / 3, 0.0])
  assert np.isnan(similarity.nearest(square[:1, :1], exclude_diagonal=True)[0])


def test_pairwise_l2_and_nearest():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(4, 7)), rng.normal(size=(5, 7))
  brute = np.linalg.norm(a[:, None] - b[None], axis=-1)
  np.testing.assert_allclose(similarity.pairwise_l2(a, b), brute, rtol=1e-6)
  np.testing.assert_allclose(similarity.nearest(brute, largest=False), brute.min(1))


def test_summary():
  s = summary([90.0, 100.0, 95.0, np.nan])
  assert s == {"best": 100.0, "mean": 95.0, "median": 95.0, "min": 90.0,
               "std": pytest.approx(np.std([90, 100, 95])), "n": 3}
  assert summary([]) == {}


def test_accuracy_with_unused_examples():
  predictions = np.array([[0, 1, 1, 0], [1, 1, 1, 1]])
  labels = np.array([0, 1, 0, 1])
  used = np.array([True, True, True, False])
  correct = correct_matrix(predictions, labels, used)
  np.testing.assert_allclose(accuracy(correct, used), [200 / 3, 100 / 3])


def test_soup_and_noise():
  stacked = {"w": np.stack([np.full(3, 1.0), np.full(3, 3.0)], 0).astype(np.float32),
             "count": np.array([4, 5], np.int32)}
  s = baselines.soup(stacked)
  np.testing.assert_array_equal(s["w"], [[2.0, 2.0, 2.0]])
  assert s["count"].tolist() == [4]
  layout = P.ParamLayout.from_template(jax.tree_util.tree_map(lambda a: a[0], stacked))
  rng = np.random.default_rng(0)
  stacked["w"] = rng.normal(size=(2, 3)).astype(np.float32)
  stats = P.fit_layer_stats(baselines.stacked_vectors(stacked, layout), layout)
  same = baselines.noised(stacked, layout, stats, 0.0, jax.random.key(0))
  np.testing.assert_allclose(same["w"], stacked["w"], rtol=1e-5, atol=1e-6)
  noisy = baselines.noised(stacked, layout, stats, 0.5, jax.random.key(0))
  spread = np.std((noisy["w"] - stacked["w"]) / float(stats.std[0]))
  # Integer leaves are not generated: they come back as the layout's template values.
  assert 0.2 < spread < 1.0 and noisy["count"].tolist() == [4, 4]


def test_predict_many_chunks():
  target = make_target("mlp", 3, hidden=(4,))
  x = jax.random.normal(jax.random.key(0), (5, 8, 8, 1))
  stacked = jax.vmap(lambda k: target.init(k, x))(jax.random.split(jax.random.key(1), 7))
  full = predict_many(target.apply, stacked, x)
  one = jax.tree_util.tree_map(lambda a: a[4], stacked)
  np.testing.assert_array_equal(full[4], jnp.argmax(target.apply(one, x), -1))
  # Chunks over models and examples (tests/test_memory_plan.py): the same predictions.
  np.testing.assert_array_equal(predict_many(target.apply, stacked, x, budget_bytes=2000), full)


def test_tiny_zoo_report(tmp_path, monkeypatch):
  fitted_on = []  # how many checkpoints the noise baseline's statistics are fitted on
  fit = P.fit_layer_stats
  monkeypatch.setattr(P, "fit_layer_stats", lambda v, layout: fitted_on.append(len(v)) or
                      fit(v, layout))
  digits = data.load_digits()
  target = make_target("mlp", 2, hidden=(8,))
  tasks = [binary_task(3), binary_task(12)]
  spec = ml_collections.ConfigDict(dict(
      seeds=(0,), tasks_per_unit=2, epochs=1, batch_size=128, lr=3e-3, save_lr=1e-5,
      warmup_steps=2, weight_decay=0.0, clip_norm=1.0, checkpoints=3, augment_shift=0,
      label_smoothing=0.0, shared_init=False))
  stacked, steps = collect.train_unit(target, digits, tasks, [0, 1], 0, spec, progress=False)
  rows = [{"task": t.name, "split": "seen" if i == 0 else "unseen"} for i, t in enumerate(tasks)
          for _ in range(3)]
  by_name = {t.name: t for t in tasks}
  copy_of_first = jax.tree_util.tree_map(lambda a: a[:3], stacked)
  report = evaluate_zoo(target, digits, by_name, rows, stacked, noise_sigmas=(0.0, 0.1),
                        noise_per_sigma=2, generated={tasks[0].name: copy_of_first})
  assert isinstance(report, ZooEvaluation)
  assert ZooEvaluation._fields == ("seen", "unseen", "baselines", "similarity", "points",
                                   "generated_test", "baseline_test")
  assert fitted_on == [3]  # the seen task's checkpoints only, not the unseen task's
  assert [r["task"] for r in report.seen] == [tasks[0].name]
  assert [r["task"] for r in report.unseen] == [tasks[1].name]
  seen = report.seen[0]
  assert seen["generated"] == seen["original"]  # the 'generated' models are the originals
  assert report.unseen[0]["generated"] == {}
  assert set(report.baselines) == {"original", "soup", "noise_0", "noise_0.1"}
  assert report.baselines["noise_0"]["mean"] == pytest.approx(seen["original"]["mean"])
  gen = report.similarity["generated"]
  assert gen["nn_wrong_iou"]["min"] == 1.0 and gen["nn_l2"]["best"] < 1e-6
  assert report.generated_test[tasks[0].name].shape == (3,)
  # The same baselines per task, the unseen task's too (the verdicts test against them).
  per_task = report.baseline_test
  assert set(per_task) == set(report.baselines)
  assert all(set(v) == set(by_name) for v in per_task.values())
  first = tasks[0].name
  assert [per_task[n][first].shape for n in ("original", "noise_0", "soup")] == [(3,), (2,), (1,)]
  assert per_task["original"][first].mean() == pytest.approx(seen["original"]["mean"])
  assert per_task["soup"][first][0] == pytest.approx(report.baselines["soup"]["mean"])
  assert per_task["noise_0.1"][first].mean() == pytest.approx(report.baselines["noise_0.1"]["mean"])
  content = dict(method="test", target="mlp", config={}, seen=report.seen, unseen=report.unseen,
              baselines=report.baselines, similarity=report.similarity, timing_s={})
  write_report(str(tmp_path), content, report.points)
  written = json.load(open(tmp_path / "report.json"))
  assert written["similarity"]["plot"] == "similarity.png"
  assert not [k for k in _all_keys(written) if k.startswith("_")]
  for name in ("report.json", "report.md", "similarity.png"):
    assert (tmp_path / name).stat().st_size > 0


def test_evaluate_generated_writes_what_it_returns(tmp_path):
  config = load_config("zoo_digits_binary", "smoke")
  config.model.options.hidden = (8,)
  config.tasks.limit = 2  # 2 seen tasks, 1 unseen
  config.collect.update(epochs=1, checkpoints=2)
  config.eval.update(noise_sigmas=(0.1,), noise_per_sigma=1)
  workdir, zoo = str(tmp_path), zoo_spec.zoo_sections(config)
  zoo_spec.collect_zoo_from_config(zoo, workdir)
  rows, stacked = zoo_spec.load_checked_zoo(zoo, workdir)
  task = rows[0]["task"]
  unseen = next(r["task"] for r in rows if r["split"] == "unseen")
  mine = take_sets(stacked, [i for i, r in enumerate(rows) if r["task"] == task])
  # The unseen task's 'generated' models are the seen task's: so is its method baseline.
  inputs = zoo_spec.build_zoo_inputs(zoo, workdir)
  nearest = split_accuracy(inputs.target.apply, mine, inputs.dataset, inputs.by_name[unseen],
                           "test")
  report = evaluate_generated(zoo, workdir, "test", generated={task: mine, unseen: mine},
                              run_config={"recorded": [1, 2]}, select_split="train", neighbours={unseen: task},
                              task_baselines={"nearest seen task": {unseen: nearest}})
  assert isinstance(report, Report) and report.directory == workdir
  assert json.load(open(tmp_path / "report.json")) == json.loads(json.dumps(report.data))
  assert not [k for k in _all_keys(report.data) if k.startswith("_")]
  assert report.data["method"] == "test" and report.data["nonfinite_generated"] == 0
  assert report.data["config"] == {"recorded": [1, 2]}
  row = next(r for r in report.data["seen"] if r["task"] == task)
  # Its 'generated' models are its originals, none of them left out as non-finite.
  assert row["generated"] == {**row["original"], "nonfinite": 0}
  assert (len(report.data["seen"]), len(report.data["unseen"])) == (2, 1)
  # A verdict for every baseline each split has: the zoo's (marked 'oracle' where built from
  # the unseen task's own checkpoints), the method's, and the selection protocol's.
  verdicts = report.data["verdicts"]
  zoo = {"original", "noise_0.1", "soup"}
  assert {(v["split"], v["baseline"], v["selection"]) for v in verdicts} == (
      {(s, b, None) for s in ("seen", "unseen") for b in zoo}
      | {("unseen", "nearest seen task", None)}
      | {(s, b, "train") for s in ("seen", "unseen") for b in ("original", "soup")}
      | {("unseen", "nearest seen task", "train")})
  assert all(v["oracle"] == (v["split"] == "unseen" and v["baseline"] in zoo | {"original"})
             for v in verdicts)
  same = [v for v in verdicts if v["selection"] is None and (v["split"], v["baseline"]) in (
      ("seen", "original"), ("unseen", "nearest seen task"))]  # these very models
  assert len(same) == 2
  assert all(v["verdict"] == "not distinguishable" and v["difference"] == 0 for v in same)
  markdown = open(tmp_path / "report.md").read()
  assert markdown.split("\n")[2] == "## What the figures mean"
  assert all(v["sentence"] in markdown for v in verdicts)


def _all_keys(tree):
  if isinstance(tree, dict):
    for key, value in tree.items():
      yield key
      yield from _all_keys(value)
  elif isinstance(tree, list):
    for value in tree:
      yield from _all_keys(value)


class FakeZoo(NamedTuple):
  """A ZooView whose 'accuracy' of a stack is its models' parameter 'w' (known answers)."""
  rows: list
  stacked: dict

  members = ZooView.members
  tasks = ZooView.tasks

  def score(self, models, task, split="test"):
    return np.asarray(models["w"], np.float64)


def fake_zoo():
  rows = [{"task": t, "split": s} for t, s in
          (("a", "seen"), ("a", "seen"), ("b", "seen"), ("u", "unseen"), ("v", "unseen"))]
  return FakeZoo(rows, {"w": np.asarray([1.0, 2.0, 3.0, 9.0, 9.0])})


def test_nearest_seen_task_scores_the_models_of_the_most_similar_seen_condition():
  conditions = {"a": np.asarray([1.0, 0.0]), "b": np.asarray([0.0, 1.0]),
                "u": np.asarray([0.9, 0.1]), "v": np.asarray([0.2, 0.8])}
  found = baselines.nearest_seen_task(fake_zoo(), conditions)
  assert set(found) == {"u", "v"}
  np.testing.assert_array_equal(found["u"], [1.0, 2.0])   # task a's two models
  np.testing.assert_array_equal(found["v"], [3.0])         # task b's model
  assert baselines.nearest_seen_task(fake_zoo(), {"a": conditions["a"]}) == {}


def test_reconstruction_passes_each_seen_tasks_last_checkpoint_through_the_autoencoder():
  found = baselines.reconstruction(fake_zoo(), lambda models: {"w": models["w"] * 10})
  assert set(found) == {"a", "b"}
  np.testing.assert_array_equal(found["a"], [20.0])  # a's last checkpoint (2.0), x10
  np.testing.assert_array_equal(found["b"], [30.0])
