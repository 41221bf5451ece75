"""Data parallelism and the FSDP-style state split: 8 simulated devices train like 1
(tests/conftest.py sets 8 CPU devices); training in memory equals training in a workdir."""

import os
import signal

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from paramgen_jax import train as T
from paramgen_jax.train import sharding
from tests.helpers import load_config
from tests.train.test_engine import batch_fn, init_params, loss_fn, train_config

needs_8 = pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (XLA_FLAGS)")


def _abstract_state(cfg, init=init_params):
  tx, _ = T.make_optimizer(cfg)
  return jax.eval_shape(lambda k: T.TrainState.create(init(k), tx, use_ema=cfg.ema_decay > 0),
                        jax.random.key(0))


@needs_8
def test_eight_devices_with_split_state_match_one_device_over_20_steps(tmp_path):
  cfg = train_config(steps=20, batch_size=16, log_every=1, fsdp_min_size=0)
  seen = []

  def spy(step, state, metrics):
    w1 = state.params["w1"]  # (3, 16): split along its 16 columns
    seen.append((len(w1.sharding.device_set), w1.sharding.spec,
                 {s.data.shape for s in w1.addressable_shards}))

  losses, states = {}, {}
  for n in (1, 8):
    mesh = T.make_mesh({"data": n}, jax.devices()[:n])
    states[n] = T.fit(cfg, init_params=init_params, loss_fn=loss_fn,
                      batch_fn=lambda s: batch_fn(s, batch_size=16),
                      workdir=str(tmp_path / str(n)), key=jax.random.key(0), mesh=mesh,
                      progress=False, hooks=[spy] if n == 8 else ())
    losses[n] = [r["loss"] for r in T.read_metrics(str(tmp_path / str(n) / "metrics.jsonl"))]
  assert len(losses[8]) == 20
  assert seen[-1] == (8, P(None, "data"), {(3, 2)})  # really split over the 8 devices
  assert states[8].opt_state[1][0].mu["w1"].sharding.spec == P(None, "data")  # Adam's too
  np.testing.assert_allclose(losses[8], losses[1], rtol=1e-5)

  # The split checkpoint restores whole (sampling) and split again (resuming).
  restored, step = T.restore_latest(str(tmp_path / "8"), _abstract_state(cfg))
  mesh = T.make_mesh({"data": 8}, jax.devices()[:8])
  with T.Checkpointer(str(tmp_path / "8" / "checkpoints")) as ckpt:
    abstract = _abstract_state(cfg)
    split, _ = ckpt.restore(20, T.abstract_like(abstract, T.state_shardings(abstract, mesh, 0)))
  assert step == 20 and split.params["w1"].sharding.spec == P(None, "data")
  for a, b, c in zip(*(jax.tree_util.tree_leaves(s) for s in (states[8], restored, split))):
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)


@needs_8
def test_default_min_size_keeps_small_states_replicated():
  """The configs' 2**20: the toy state trains exactly as plain data parallelism."""
  mesh = T.make_mesh({"data": 8}, jax.devices()[:8])
  specs = T.state_shardings(_abstract_state(train_config()), mesh,
                            train_config().fsdp_min_size)
  assert {s.spec for s in jax.tree_util.tree_leaves(specs)} == {P()}


def test_rule_replicates_small_leaves_and_splits_the_largest_divisible_dimension():
  assert sharding.leaf_spec((4, 24), 8, 0) == P(None, "data")
  assert sharding.leaf_spec((16, 24), 8, 0) == P(None, "data")  # the largest divisible
  assert sharding.leaf_spec((24, 24, 3), 8, 0) == P("data")  # of equal ones, the first
  assert sharding.leaf_spec((3, 5, 7), 8, 0) == P()  # none divisible
  assert sharding.leaf_spec((), 8, 0) == P()  # the step count
  assert sharding.leaf_spec((64,), 8, 65) == P()  # below min_size
  assert sharding.leaf_spec((64,), 8, 64) == P("data")  # at min_size
  assert sharding.leaf_spec((64, 64), 1, 0) == P()  # one device: nothing to split


@needs_8
def test_state_shardings_split_over_data_only_and_count_bytes():
  mesh = T.make_mesh({"data": 4, "model": 2}, jax.devices()[:8])
  abstract = {"w": jax.ShapeDtypeStruct((8, 3), jnp.float32),
              "b": jax.ShapeDtypeStruct((3,), jnp.float32),
              "step": jax.ShapeDtypeStruct((), jnp.int32)}
  shardings = T.state_shardings(abstract, mesh, min_size=8)
  assert {k: s.spec for k, s in shardings.items()} == {"w": P("data"), "b": P(), "step": P()}
  assert T.bytes_per_device(abstract) == (24 + 3 + 1) * 4
  assert T.bytes_per_device(abstract, shardings) == (6 + 3 + 1) * 4
  no_data = T.make_mesh({"model": 8}, jax.devices()[:8])
  assert T.state_shardings(abstract, no_data, 0)["w"].spec == P()


def _rpg_abstract_state(config, num_permutations=10, num_tokens=16):
  """An RPG config's generator + AdamW state, shapes only (no zoo, nothing trained)."""
  from paramgen_jax.methods.rpg.model import RPGGenerator
  g, size = config.generator, config.tokens.size
  model = RPGGenerator(
      token_size=size, d_model=g.d_model, prototype_dim=g.prototype_dim,
      prototype_hidden=g.prototype_hidden, backbone=g.backbone,
      backbone_options=dict(g.backbone_options), position=g.position,
      num_permutations=num_permutations, unet_encoder=tuple(g.unet_encoder),
      unet_decoder=tuple(g.unet_decoder))
  positions = jnp.zeros((num_tokens,), jnp.int32)
  init = lambda key: model.init(key, positions, positions, jnp.zeros((1,), jnp.int32), None,
                                jnp.zeros((1, size)), jnp.zeros((1,), jnp.int32))
  return _abstract_state(config.train, init)


@needs_8
def test_paper_rpg_state_is_split_to_an_eighth_per_device():
  config = load_config("rpg_convnext", "paper")
  assert config.tokens.size == 8192 and config.generator.d_model == 8192
  abstract = _rpg_abstract_state(config)
  mesh = T.make_mesh({"data": 8}, jax.devices()[:8])
  shardings = T.state_shardings(abstract, mesh, config.train.fsdp_min_size)
  replicated = T.bytes_per_device(abstract)
  per_device = T.bytes_per_device(abstract, shardings)
  assert replicated > 19 * 2**30  # 1.77 B parameters (Mamba-2) with Adam's two moments
  assert per_device <= replicated / 6, replicated / per_device  # measured: 1 / 7.98


@needs_8
@pytest.mark.parametrize("preset", [None, "no_relation"])
def test_default_rpg_state_stays_replicated(preset):
  """Its largest leaf, the Mamba input projection (256, 1024), is below 2**20 elements."""
  config = load_config("rpg_convnext", preset)
  mesh = T.make_mesh({"data": 8}, jax.devices()[:8])
  shardings = T.state_shardings(_rpg_abstract_state(config), mesh, config.train.fsdp_min_size)
  assert {s.spec for s in jax.tree_util.tree_leaves(shardings)} == {P()}


@needs_8
def test_put_batch_places_like_device_put():
  mesh = T.make_mesh({"data": 8}, jax.devices()[:8])
  batch = batch_fn(0, batch_size=16)
  placed = T.put_batch(batch, mesh)
  expected = jax.device_put(batch, T.batch_sharding(mesh))
  for a, b in zip(placed, expected):
    assert a.sharding == b.sharding
    assert [s.index for s in a.addressable_shards] == [s.index for s in b.addressable_shards]
    np.testing.assert_array_equal(a, b)


def test_training_in_memory_equals_a_workdir_run_and_writes_nothing(tmp_path, monkeypatch):
  cfg = train_config(steps=10)
  mesh = T.make_mesh(devices=jax.devices()[:1])
  args = dict(init_params=init_params, loss_fn=loss_fn, batch_fn=batch_fn,
              key=jax.random.key(0), mesh=mesh, progress=False)
  on_disk = T.fit(cfg, workdir=str(tmp_path / "run"), **args)
  cwd = tmp_path / "cwd"
  cwd.mkdir()
  monkeypatch.chdir(cwd)
  steps = []
  in_memory = T.fit(cfg, workdir=None, hooks=[lambda step, *_: steps.append(step)], **args)
  assert steps == list(range(1, 11)) and int(in_memory.step) == 10
  for a, b in zip(jax.tree_util.tree_leaves(on_disk), jax.tree_util.tree_leaves(in_memory)):
    np.testing.assert_array_equal(a, b)
  assert os.listdir(cwd) == []


def test_training_in_memory_stops_on_nan_and_on_sigint(tmp_path, monkeypatch):
  monkeypatch.chdir(tmp_path)
  mesh = T.make_mesh(devices=jax.devices()[:1])
  nan_from_7 = lambda step: (batch_fn(step)[0], np.full((8, 1), np.nan if step >= 7 else 0.0,
                                                         np.float32))
  with pytest.raises(T.NonFiniteLossError, match=r"at step 8; last good checkpoint: none "
                                                  r"\(trained in memory"):
    T.fit(train_config(), init_params=init_params, loss_fn=loss_fn, batch_fn=nan_from_7,
          workdir=None, key=jax.random.key(0), mesh=mesh, progress=False)
  done = []

  def interrupt_at_3(step, state, metrics):
    done.append(step)
    if step == 3:
      signal.raise_signal(signal.SIGINT)  # only asks: the loop stops before the next step

  with pytest.raises(KeyboardInterrupt, match="SIGINT"):
    T.fit(train_config(), init_params=init_params, loss_fn=loss_fn, batch_fn=batch_fn,
          workdir=None, key=jax.random.key(0), mesh=mesh, progress=False,
          hooks=[interrupt_at_3])
  assert done == [1, 2, 3] and os.listdir(tmp_path) == []


@needs_8
def test_batch_is_split_over_data_axis():
  mesh = T.make_mesh({"data": 4, "model": 2}, jax.devices()[:8])
  x, _ = T.put_batch(batch_fn(0, batch_size=8), mesh)
  shards = x.addressable_shards
  assert len(shards) == 8 and {s.data.shape for s in shards} == {(2, 3)}


@needs_8
def test_mesh_errors():
  with pytest.raises(ValueError, match="does not fit"):
    T.make_mesh({"data": 3}, jax.devices()[:2] if jax.device_count() >= 2 else jax.devices())
  with pytest.raises(ValueError, match="divisible"):
    T.fit(train_config(batch_size=7), init_params=init_params, loss_fn=loss_fn,
          batch_fn=batch_fn, workdir="/nonexistent-never-created", key=jax.random.key(0),
          mesh=T.make_mesh({"data": 2}, jax.devices()[:2]), progress=False)
