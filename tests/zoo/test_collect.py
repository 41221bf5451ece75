"""Collection: vmap over tasks equals training them one by one; seeded; resumable."""

import jax
import ml_collections
import numpy as np
import pytest

from paramgen_jax import data
from paramgen_jax.zoo import collect, store
from paramgen_jax.zoo.models import make_target
from paramgen_jax.zoo.tasks import binary_task

SPEC = dict(seeds=(0,), tasks_per_unit=2, epochs=2, batch_size=128, lr=3e-3, save_lr=1e-5,
            warmup_steps=2, weight_decay=0.01, clip_norm=1.0, checkpoints=3, augment_shift=0,
            label_smoothing=0.0, shared_init=False)


@pytest.fixture(scope="module")
def digits():
  return data.load_digits()


def spec(**overrides):
  return ml_collections.ConfigDict({**SPEC, **overrides})


def leaves(tree):
  return jax.tree_util.tree_leaves(tree)


def test_vmapped_unit_equals_tasks_trained_alone(digits):
  target = make_target("mlp", 2, hidden=(16,))
  tasks = [binary_task(5), binary_task(300), binary_task(1000)]
  together, steps = collect.train_unit(target, digits, tasks, [0, 1, 2], 0, spec(),
                                       progress=False)
  assert leaves(together)[0].shape[0] == 9 and list(steps) == [21, 22, 23]
  for i, task in enumerate(tasks):
    alone, _ = collect.train_unit(target, digits, [task], [i], 0, spec(), progress=False)
    for a, b in zip(leaves(alone), leaves(together)):
      np.testing.assert_allclose(a, b[3 * i:3 * i + 3], rtol=1e-5, atol=1e-6)
  again, _ = collect.train_unit(target, digits, tasks, [0, 1, 2], 0, spec(), progress=False)
  for a, b in zip(leaves(again), leaves(together)):
    np.testing.assert_array_equal(a, b)  # seeded: the same zoo every time


def test_shared_init_starts_every_task_from_the_same_weights(digits):
  target = make_target("mlp", 2, hidden=(16,))
  tasks = [binary_task(5), binary_task(300)]
  frozen = dict(epochs=1, lr=0.0, save_lr=0.0)  # lr 0: the checkpoints are the initial weights
  shared, _ = collect.train_unit(target, digits, tasks, [0, 1], 0,
                                 spec(shared_init=True, **frozen), progress=False)
  own, _ = collect.train_unit(target, digits, tasks, [0, 1], 0, spec(**frozen), progress=False)
  for s, o in zip(leaves(shared), leaves(own)):
    np.testing.assert_array_equal(s[0], s[3])
    assert np.any(o[0] != o[3]) or not np.any(o[0])  # biases start at zero either way


def test_batchnorm_targets_collect_their_statistics(digits):
  target = make_target("cnn", 2, channels=(4, 4))
  stacked, _ = collect.train_unit(target, digits, [binary_task(7)], [0], 1, spec(epochs=1),
                                  progress=False)
  assert set(stacked) == {"params", "batch_stats"}
  acc = collect.evaluate_unit(target, digits, [binary_task(7)], stacked, 3)
  assert acc["test"].shape == (3,) and acc["test"].min() > 50


def test_killed_collection_resumes_and_loads_in_one_call(tmp_path, digits, monkeypatch):
  target = make_target("mlp", 2, hidden=(8,))
  tasks = [binary_task(c) for c in (3, 9, 17)]
  splits = {t.name: "seen" for t in tasks} | {tasks[2].name: "unseen"}
  cfg = spec(tasks_per_unit=1, epochs=1)
  collect.collect_zoo(str(tmp_path / "ref"), target, digits, tasks, splits, cfg, progress=False)

  real, calls = collect.train_unit, []

  def dies_on_second_unit(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
      raise KeyboardInterrupt
    return real(*args, **kwargs)

  monkeypatch.setattr(collect, "train_unit", dies_on_second_unit)
  with pytest.raises(KeyboardInterrupt):
    collect.collect_zoo(str(tmp_path / "zoo"), target, digits, tasks, splits, cfg, progress=False)
  assert store.completed_units(str(tmp_path / "zoo")) == {"seed0_tasks00000"}
  monkeypatch.setattr(collect, "train_unit", real)
  figures = collect.collect_zoo(str(tmp_path / "zoo"), target, digits, tasks, splits, cfg,
                                progress=False)
  assert figures["tasks_trained"] == 2

  ref_rows, ref = store.load_zoo(str(tmp_path / "ref"))
  rows, resumed = store.load_zoo(str(tmp_path / "zoo"))
  assert [r["id"] for r in rows] == [r["id"] for r in ref_rows] and len(rows) == 9
  assert [r["test_acc"] for r in rows] == [r["test_acc"] for r in ref_rows]
  for a, b in zip(leaves(ref), leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  unseen_rows, unseen = store.load_zoo(str(tmp_path / "zoo"), split="unseen")
  assert {r["task"] for r in unseen_rows} == {tasks[2].name}
  np.testing.assert_array_equal(leaves(unseen)[0], leaves(resumed)[0][6:])
  assert set(rows[0]) >= {"id", "task", "condition", "seed", "step", "val_acc", "test_acc",
                          "location", "index", "split"}
  with pytest.raises(ValueError, match="matches"):
    store.load_zoo(str(tmp_path / "zoo"), tasks=["nope"])


def test_shift_images():
  x = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1) + 1
  rng = np.random.default_rng(0)
  np.testing.assert_array_equal(collect.shift_images(x, 0, rng), x)
  shifted = collect.shift_images(x, 1, rng)
  assert shifted.shape == x.shape
  for a, b in zip(shifted, x):  # each image is a translate of its original, zero-filled
    nonzero = a[a > 0]
    assert set(nonzero.tolist()) <= set(b.ravel().tolist())


def test_a_scanned_pass_equals_its_steps_one_call_at_a_time(digits):
  """One compiled call per epoch (lax.scan over the batches) takes the same steps as calling
  the vmapped step once per batch, and keeps every step's variables."""
  from paramgen_jax.train import TrainState, make_optimizer, make_train_step
  target = make_target("mlp", 2, hidden=(8,))
  tasks = [binary_task(5), binary_task(300)]
  labels, used = (np.stack(a) for a in zip(*(t.relabel(digits.y_train[:96]) for t in tasks)))
  tx, _ = make_optimizer(collect.optimizer_config(spec(), 10))
  vstep = jax.vmap(make_train_step(collect.classification_loss(target), tx, stateful=True),
                   in_axes=(0, (None, 0, 0), 0))
  keys = jax.random.split(jax.random.key(0), 2)

  def init(key):
    params, model_state = collect.split_variables(target.init(key, digits.x_train[:1]))
    return TrainState.create(params, tx, model_state=model_state)

  images = digits.x_train[:96].reshape((3, 32) + digits.x_train.shape[1:])
  lab, use = (a.reshape(2, 3, 32).astype(np.int32 if a.dtype != bool else bool)
              for a in (labels, used))
  _, kept = collect._scanned_steps(vstep, True)(jax.vmap(init)(keys), (images, lab, use), keys)
  state = jax.vmap(init)(keys)
  for s in range(3):
    state, _ = jax.jit(vstep)(state, (images[s], lab[:, s], use[:, s]), keys)
    for a, b in zip(leaves(state.params), leaves(kept["params"])):
      np.testing.assert_allclose(a, b[s], rtol=1e-6, atol=1e-7)
