"""Diffusion on a 1-D Gaussian mixture, through the methods' protocol: the "zoo" is N
one-parameter models {'x': (N, 1)} drawn from the mixture, and generated models are new
draws, so the answer (the mixture) is known.

    zoo = {"x": draw_mixture(means, stds, weights, 20000, seed=0)}   # leaves (N, 1)
    generator = train(zoo, small_config())
    samples = generate(generator, jax.random.key(1), None, 4000)["x"]   # (4000, 1)
    component_stats(samples, means)   # per component: weight, mean, std

Any stacked pytree of one architecture works as the zoo: each model is flattened to a vector
(`params.ParamLayout`) and the MLP denoiser models the vectors.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from paramgen_jax import configlib
from paramgen_jax import artifact, diffusion, precision
from paramgen_jax.nn import MLPDenoiser
from paramgen_jax.params.layout import ParamLayout
from paramgen_jax.train import recipe

PyTree = Any
METHOD = "toy_gmm"


@struct.dataclass
class Generator:
  """A trained denoiser (`params`) over the vectors of `layout`'s models."""
  params: PyTree
  config: Any = struct.field(pytree_node=False)
  layout: ParamLayout = struct.field(pytree_node=False)


def small_config() -> ml_collections.ConfigDict:
  """A CPU-sized recipe (seconds on 2 cores): the smoke preset of configs/toy_gmm.py."""
  return ml_collections.ConfigDict(dict(
      data=dict(seed=0), model=dict(hidden=32, depth=1),
      diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="eps"),
      train=configlib.train_section(steps=200, batch_size=256, lr=3e-3, warmup_steps=50,
                                    final_lr_ratio=0.05, log_every=50, checkpoint_every=100),
      sample=dict(sampler="ddim", steps=20, eta=0.0, num_samples=1000, seed=1, clip_x0=None,
                  compute_dtype="float32")))


def draw_mixture(means, stds, weights, num_points: int, seed: int) -> np.ndarray:
  """(num_points, 1) float32 points from the mixture (NumPy, deterministic in `seed`)."""
  rng = np.random.default_rng(seed)
  component = rng.choice(len(means), size=num_points, p=np.asarray(weights) / sum(weights))
  points = rng.normal(np.asarray(means)[component], np.asarray(stds)[component])
  return points.astype(np.float32)[:, None]


def component_stats(points: np.ndarray, means) -> dict:
  """Assigns each point to the nearest true mean: per component weight, mean and std."""
  means = np.asarray(means, np.float64)
  x = np.asarray(points, np.float64).reshape(-1)
  nearest = np.argmin(np.abs(x[:, None] - means[None, :]), axis=1)
  out = {"weight": [], "mean": [], "std": []}
  for k in range(len(means)):
    members = x[nearest == k]
    out["weight"].append(float(members.size / max(x.size, 1)))
    out["mean"].append(float(members.mean()) if members.size else float("nan"))
    out["std"].append(float(members.std()) if members.size > 1 else float("nan"))
  return out


def _model(config: Any) -> MLPDenoiser:
  return MLPDenoiser(hidden=config.model.hidden, depth=config.model.depth)


def _layout(template: PyTree) -> ParamLayout:
  return ParamLayout.from_template(template, log_transform=())


def train(zoo: PyTree, config: Any, *, conditions: Any = None,
          workdir: str | None = None) -> Generator:
  """Trains the denoiser on the zoo's models (leaves (N, ...)) flattened to vectors (N, D).

  conditions must be None (toy_gmm is unconditional). workdir: checkpoint, resume and log
  there (default: in memory).
  """
  if conditions is not None:
    raise ValueError("toy_gmm is unconditional: pass conditions=None")
  layout = _layout(jax.tree_util.tree_map(lambda a: np.asarray(a[0]), zoo))
  data = np.asarray(jax.vmap(layout.to_vector)(zoo), np.float32)
  model = _model(config)
  schedule = recipe.schedule_from_section(config.diffusion)
  pick = recipe.random_rows(config.data.seed + 1, len(data), config.train.batch_size)

  def loss_fn(params, batch, rng):
    return diffusion.diffusion_loss(lambda x, t, c: model.apply(params, x, t, c), schedule,
                                    batch, rng, prediction=config.diffusion.prediction)

  params = recipe.train_generator(
      config.train, config.get("mesh"),
      init_params=lambda key: model.init(key, jnp.zeros((1, layout.num_params)),
                                         jnp.zeros((1,), jnp.int32)),
      loss_fn=loss_fn, batch_fn=lambda step: data[pick(step)], workdir=workdir,
      desc="train toy_gmm")
  return Generator(params, artifact.frozen(config), layout)


def generate(generator: Generator, key: jax.Array, conditions: Any, num_models: int) -> PyTree:
  """`num_models` new models (leaves (num_models, ...)) drawn with the configured sampler;
  conditions must be None. Traceable."""
  if not isinstance(num_models, int) or num_models < 1:
    raise ValueError(f"num_models must be an integer >= 1, got {num_models!r}")
  if conditions is not None:
    raise ValueError("toy_gmm is unconditional: pass conditions=None")
  config, model = generator.config, _model(generator.config)
  dtype = precision.section_dtype(config.sample)
  params = precision.cast_floating(generator.params, dtype)
  denoise = lambda x, t, c: model.apply(params, x, t, c)
  with precision.autocast(dtype):
    vectors = diffusion.sample(denoise, recipe.schedule_from_section(config.diffusion),
                               (num_models, generator.layout.num_params), key,
                               **recipe.sampler_kwargs(config.sample, config.diffusion.prediction))
  return jax.vmap(generator.layout.from_vector)(vectors.astype(jnp.float32))


def save(generator: Generator, path: str) -> None:
  """Writes the generator directory `path` (`artifact`)."""
  template = generator.layout.from_vector(jnp.zeros(generator.layout.num_params))
  artifact.save(path, method=METHOD, arrays={"params": generator.params},
                config=generator.config, template=template)


def load(path: str) -> Generator:
  """The generator `save` wrote in `path`; one-line CorruptDataError when it is incomplete,
  altered or another method's."""
  found = artifact.load(path, method=METHOD)
  return Generator(found.arrays["params"], found.config, _layout(found.template))
