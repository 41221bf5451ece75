"""Data parallelism: 8 simulated devices train like 1 (tests/conftest.py sets 8 CPU devices)."""

import jax
import numpy as np
import pytest

from paramgen_jax import train as T
from tests.train.test_engine import batch_fn, init_params, loss_fn, train_config

needs_8 = pytest.mark.skipif(jax.device_count() < 8, reason="needs 8 devices (XLA_FLAGS)")


@needs_8
def test_eight_devices_match_one_device_over_20_steps(tmp_path):
  cfg = train_config(steps=20, batch_size=16, log_every=1)
  sharded_batches = []

  def spy(step, state, metrics):
    sharded_batches.append(len(state.params["w1"].sharding.device_set))

  losses = {}
  for n in (1, 8):
    mesh = T.make_mesh({"data": n}, jax.devices()[:n])
    T.fit(cfg, init_params=init_params, loss_fn=loss_fn,
          batch_fn=lambda s: batch_fn(s, batch_size=16), workdir=str(tmp_path / str(n)),
          key=jax.random.key(0), mesh=mesh, progress=False, hooks=[spy] if n == 8 else ())
    losses[n] = [r["loss"] for r in T.read_metrics(str(tmp_path / str(n) / "metrics.jsonl"))]
  assert len(losses[8]) == 20
  assert sharded_batches[-1] == 8  # the state really lives on all 8 devices
  np.testing.assert_allclose(losses[8], losses[1], rtol=1e-5)


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
