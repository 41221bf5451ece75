"""Training a generator's network with the engine, from config sections: what every method's
`core.py` needs and nothing above it.

    schedule = schedule_from_section(config.diffusion)
    state = train_generator(config.train, config.get("mesh"), init_params=init,
                            loss_fn=loss, batch_fn=batches, workdir=None, desc="train rpg")

Each function takes the one section (or value) it reads, so a reader sees what it depends on.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

import jax
import numpy as np

from paramgen_jax import diffusion
from paramgen_jax.train.loop import fit, restore_latest
from paramgen_jax.train.mesh import make_mesh
from paramgen_jax.train.optim import make_optimizer
from paramgen_jax.train.state import TrainState

PyTree = Any
# Steps whose batch rows `random_rows` draws at once.
ROWS_BLOCK = 256


def schedule_from_section(section: Any) -> diffusion.Schedule:
  """A `diffusion` section (schedule, timesteps, beta_start, beta_end) -> Schedule."""
  return diffusion.get_schedule(section.schedule, section.timesteps,
                                beta_start=section.beta_start, beta_end=section.beta_end)


def sampler_kwargs(sample: Any, prediction: str) -> dict:
  """Keyword arguments of `diffusion.sample` from a `sample` section and the diffusion's
  prediction target."""
  return dict(sampler=sample.sampler, steps=sample.steps, eta=sample.eta,
              clip_x0=sample.clip_x0, prediction=prediction)


def mesh_from_axes(axes: Mapping[str, int] | None) -> jax.sharding.Mesh:
  """A `mesh` section (default: every device on the 'data' axis) -> Mesh."""
  return make_mesh(dict(axes or {"data": -1}))


def draw_rows(key: jax.Array, step: jax.Array, count: int, batch_size: int) -> jax.Array:
  """(batch_size,) int32 row indices uniform in [0, count): the draw of one training step."""
  return jax.random.randint(jax.random.fold_in(key, step), (batch_size,), 0, count)


def random_rows(seed: int, count: int, batch_size: int,
                block: int = ROWS_BLOCK) -> Callable[[int], np.ndarray]:
  """step -> (batch_size,) row indices `draw_rows(key(seed), step, ...)`, a pure function of
  (seed, step), so a resumed run sees the batches an uninterrupted one would.

  The draws of `block` consecutive steps come from one jitted call and are kept on the host:
  one draw per step would wait on the device every step (the training step dispatched before
  it included), which small generators' steps, a few milliseconds each, feel most.
  """
  key = jax.random.key(seed)
  draw_block = jax.jit(jax.vmap(lambda step: draw_rows(key, step, count, batch_size)))
  cached: dict[int, np.ndarray] = {}

  def rows(step: int) -> np.ndarray:
    first = step - step % block
    if first not in cached:
      cached.clear()
      cached[first] = np.asarray(draw_block(np.arange(first, first + block, dtype=np.int32)))
    return cached[first][step - first]

  return rows


def train_generator(train_cfg: Any, mesh_axes: Mapping[str, int] | None, *,
                    init_params: Callable, loss_fn: Callable,
                    batch_fn: Callable[[int], PyTree], workdir: str | None,
                    desc: str) -> PyTree:
  """`train.fit` with the section's seed as base key on the mesh of `mesh_axes`; returns
  the sampling parameters (EMA when kept) as host arrays (the state may live on a mesh,
  generation compiles for the default device).

  workdir None trains in memory (no checkpoints, nothing written).
  """
  state = fit(train_cfg, init_params=init_params, loss_fn=loss_fn, batch_fn=batch_fn,
              workdir=workdir, key=jax.random.key(train_cfg.seed),
              mesh=mesh_from_axes(mesh_axes), desc=desc)
  return jax.device_get(state.eval_params())


def load_trained_params(train_cfg: Any, workdir: str,
                        init_params: Callable[[jax.Array], Any]) -> tuple[Any, int]:
  """The sampling parameters (EMA if kept) of the latest checkpoint in `workdir` of a run
  trained with `train_cfg`: (host params, step).

  Raises CorruptDataError (one line naming the step's folder) when the latest checkpoint
  fails verification: an older step would silently give another result.
  """
  tx, _ = make_optimizer(train_cfg)
  abstract = jax.eval_shape(
      lambda k: TrainState.create(init_params(k), tx, use_ema=train_cfg.ema_decay > 0),
      jax.random.key(0))
  state, step = restore_latest(workdir, abstract)
  return jax.device_get(state.eval_params()), step


def count_params(tree: PyTree) -> int:
  """Number of array entries in `tree`."""
  return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(tree)))
