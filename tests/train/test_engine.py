"""The training engine: resume equals uninterrupted, NaN stops, donation, EMA, bf16."""

import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from paramgen_jax import train as T


def train_config(**overrides):
  cfg = dict(steps=20, batch_size=8, lr=1e-2, warmup_steps=3, final_lr_ratio=0.1,
             weight_decay=1e-4, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0,
             compute_dtype="float32", log_every=4, checkpoint_every=5, keep_checkpoints=2,
             seed=0, fsdp_min_size=2**20)
  cfg.update(overrides)
  return ml_collections.ConfigDict(cfg)


def init_params(key):
  k1, k2 = jax.random.split(key)
  return {"w1": jax.random.normal(k1, (3, 16)) * 0.5, "w2": jax.random.normal(k2, (16, 1)) * 0.5,
          "b": jnp.zeros(1)}


def loss_fn(params, batch, rng):
  x, y = batch
  dropout = jax.random.bernoulli(rng, 0.9, (x.shape[0], 16))  # uses the step's key
  h = jnp.tanh(x @ params["w1"]) * dropout
  pred = h @ params["w2"] + params["b"][None, :]
  loss = jnp.mean(jnp.square(pred - y))
  return loss, {"mse": loss}


def batch_fn(step, batch_size=8):
  rng = np.random.default_rng([7, step])
  x = rng.normal(size=(batch_size, 3)).astype(np.float32)
  return x, np.sin(x.sum(1, keepdims=True)).astype(np.float32)


def run(workdir, cfg, **kw):
  return T.fit(cfg, init_params=init_params, loss_fn=loss_fn, batch_fn=batch_fn,
               workdir=str(workdir), key=jax.random.key(0), progress=False,
               mesh=kw.pop("mesh", T.make_mesh(devices=jax.devices()[:1])), **kw)


def crash_at(step, exc):
  def hook(done, state, metrics):
    if done == step:
      raise exc
  return hook


@pytest.mark.parametrize("exc, resumed_from", [(RuntimeError("crash"), 10),
                                               (KeyboardInterrupt(), 12)])
def test_killed_and_resumed_run_equals_uninterrupted(tmp_path, exc, resumed_from):
  cfg = train_config()
  reference = run(tmp_path / "ref", cfg)
  with pytest.raises(type(exc)):
    run(tmp_path / "run", cfg, hooks=[crash_at(12, exc)])
  ckpt = T.Checkpointer(str(tmp_path / "run" / "checkpoints"))
  assert ckpt.latest_step() == resumed_from  # Ctrl-C saves the current step, a crash cannot
  ckpt.close()
  resumed = run(tmp_path / "run", cfg)
  for a, b in zip(jax.tree_util.tree_leaves(reference), jax.tree_util.tree_leaves(resumed)):
    np.testing.assert_array_equal(a, b)
  rows = T.read_metrics(str(tmp_path / "run" / "metrics.jsonl"))
  assert [r["step"] for r in rows] == list(range(1, 21))  # each step logged exactly once
  ref_rows = T.read_metrics(str(tmp_path / "ref" / "metrics.jsonl"))
  assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]


def test_checkpoints_keep_k_and_finished_run_is_not_retrained(tmp_path):
  cfg = train_config()
  run(tmp_path, cfg)
  ckpt = T.Checkpointer(str(tmp_path / "checkpoints"))
  assert ckpt.all_steps() == [15, 20]
  ckpt.close()
  calls = []
  state = run(tmp_path, cfg, hooks=[lambda *a: calls.append(a)])
  assert calls == [] and int(state.step) == 20


def test_non_finite_loss_names_step_and_last_checkpoint(tmp_path):
  bad_batches = lambda step: (batch_fn(step)[0], np.full((8, 1), np.nan if step >= 7 else 0.0,
                                                         np.float32))
  with pytest.raises(T.NonFiniteLossError,
                     match=r"non-finite loss \(nan\) at step 8; last good checkpoint: step 5 in "):
    T.fit(train_config(), init_params=init_params, loss_fn=loss_fn, batch_fn=bad_batches,
          workdir=str(tmp_path), key=jax.random.key(0), progress=False,
          mesh=T.make_mesh(devices=jax.devices()[:1]))
  ckpt = T.Checkpointer(str(tmp_path / "checkpoints"))
  assert ckpt.all_steps() == [5]  # the NaN state was never saved
  ckpt.close()


def test_step_donates_state_and_keeps_ema():
  cfg = train_config(ema_decay=0.5)
  tx, lr = T.make_optimizer(cfg)
  mesh = T.make_mesh(devices=jax.devices()[:1])
  repl = T.replicated(mesh)
  state = T.TrainState.create(init_params(jax.random.key(0)), tx, use_ema=True)
  sharding = jax.tree_util.tree_map(lambda _: repl, state)
  step = T.jit_train_step(T.make_train_step(loss_fn, tx, ema_decay=0.5, learning_rate=lr),
                          sharding, T.batch_sharding(mesh), repl)
  state = jax.device_put(state, sharding)
  old_params = state.params
  old_w1 = np.array(old_params["w1"], copy=True)  # a zero-copy view would block donation
  new, metrics = step(state, T.put_batch(batch_fn(0), mesh), jax.random.key(0))
  assert old_params["w1"].is_deleted()  # donated
  np.testing.assert_allclose(new.ema_params["w1"], 0.5 * old_w1 + 0.5 * np.asarray(
      new.params["w1"]), rtol=1e-6)
  assert int(new.step) == 1 and float(metrics["lr"]) == 0.0  # warm-up starts at 0
  assert set(metrics) >= {"loss", "mse", "grad_norm", "param_norm", "lr"}
  assert new.eval_params() is new.ema_params


def test_bfloat16_compute_keeps_float32_master_weights(tmp_path):
  seen = []

  def loss_bf16(params, batch, rng):
    seen.append(params["w1"].dtype)
    loss, metrics = loss_fn(params, batch, rng)
    return loss, metrics

  state = T.fit(train_config(compute_dtype="bfloat16"), init_params=init_params,
                loss_fn=loss_bf16, batch_fn=batch_fn, workdir=str(tmp_path / "bf16"),
                key=jax.random.key(0), progress=False, mesh=T.make_mesh(devices=jax.devices()[:1]))
  assert seen[0] == jnp.bfloat16 and state.params["w1"].dtype == jnp.float32
  run(tmp_path / "f32", train_config())
  bf16 = [r["loss"] for r in T.read_metrics(str(tmp_path / "bf16" / "metrics.jsonl"))]
  f32 = [r["loss"] for r in T.read_metrics(str(tmp_path / "f32" / "metrics.jsonl"))]
  assert bf16 != f32  # really computed in another precision
  np.testing.assert_allclose(bf16, f32, rtol=0.05)  # ... and still the same optimization


def test_learning_rate_schedule():
  sched = T.learning_rate_schedule(train_config(steps=100, warmup_steps=10, lr=1.0,
                                                final_lr_ratio=0.1))
  assert float(sched(0)) == 0.0
  np.testing.assert_allclose(float(sched(10)), 1.0)
  np.testing.assert_allclose(float(sched(55)), 0.1 + 0.9 * 0.5, rtol=1e-5)
  np.testing.assert_allclose(float(sched(100)), 0.1, rtol=1e-5)


def test_norms_are_computed_on_logged_steps_only(tmp_path):
  """metrics_every: the norms (two extra passes over the parameters) on steps 4, 8, ...;
  NaN in between, and left out of metrics.jsonl there; the loss is on every row."""
  import optax
  cfg = train_config(steps=8, log_every=4, checkpoint_every=8)
  tx, _ = T.make_optimizer(cfg)
  step = jax.jit(T.make_train_step(loss_fn, tx, metrics_every=4))
  state, key = T.TrainState.create(init_params(jax.random.key(0)), tx), jax.random.key(0)
  norms = []
  for i in range(8):
    if i == 3:  # the gradient norm the step should report, computed directly
      rng = jax.random.fold_in(key, 3)
      grads = jax.grad(lambda p: loss_fn(p, batch_fn(3), rng)[0])(state.params)
      expected = float(optax.tree.norm(grads))
    state, metrics = step(state, batch_fn(i), key)
    norms.append(float(metrics["grad_norm"]))
  assert [i + 1 for i, n in enumerate(norms) if not np.isnan(n)] == [4, 8]
  np.testing.assert_allclose(norms[3], expected, rtol=1e-5)
  run(tmp_path, cfg)
  rows = T.read_metrics(os.path.join(tmp_path, "metrics.jsonl"))
  assert [r["step"] for r in rows] == list(range(1, 9))
  assert [r["step"] for r in rows if "grad_norm" in r] == [4, 8]
  assert all(np.isfinite(r["loss"]) for r in rows)


def test_progress_bar_keeps_the_last_measured_norm_between_norm_steps():
  """A row without norms (NaN: not computed on that step) does not turn the bar's
  grad_norm into 'nan'; it keeps the last measured value while the loss moves on."""
  from paramgen_jax.train.metrics import format_metrics, shown_metrics

  shown = shown_metrics({}, {"loss": 0.5, "lr": 1e-3, "grad_norm": 0.25})
  shown = shown_metrics(shown, {"loss": 0.4, "lr": 1e-3, "grad_norm": float("nan")})
  assert format_metrics(shown) == "loss=0.4 lr=0.001 grad_norm=0.25"
  assert format_metrics(shown_metrics({}, {"loss": float("nan")})) == "loss=nan"  # a real NaN


def test_random_rows_drawn_in_blocks_equal_one_draw_per_step():
  """The rows a step trains on do not depend on the block they were drawn with, so runs
  keep their batches whatever the block size, and a resumed run its uninterrupted ones."""
  from paramgen_jax.train import recipe

  key = jax.random.key(3)
  for block in (1, 7, recipe.ROWS_BLOCK):
    pick = recipe.random_rows(3, 50, 6, block=block)
    for step in (0, 1, 6, 7, 255, 256, 1000, 2):  # across block edges and back again
      expected = np.asarray(recipe.draw_rows(key, step, 50, 6))
      np.testing.assert_array_equal(pick(step), expected)
      assert pick(step).min() >= 0 and pick(step).max() < 50
