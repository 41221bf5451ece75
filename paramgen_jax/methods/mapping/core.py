"""Data-conditioned mapping in memory: fit the decoder on (condition, model) pairs, then map
a condition to a model in one forward pass (no diffusion, no sampling noise).

    generator = core.train(stacked, conditions, config)   # stacked: leaves (N, ...)
    models = core.generate(generator, new_conditions)      # (B, F) -> leaves (B, ...)

Targets are the structure-aware arrangement (`params.arrangement`): per model and layer the
z-scored weights and bias, and the four statistics [mean_w, log std_w, mean_b, log std_b]
standardized per (layer, statistic) over the training models. The loss weighs each layer by
its sensitivity (std of its parameters across the zoo, normalized) raised to `loss.alpha`.
No file is read or written unless `train` gets a `workdir` (checkpoints, resume, metrics).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import stage_helpers as H
from paramgen_jax.methods.mapping.model import MappingNet, weighted_mse
from paramgen_jax.params.arrangement import Arrangement, layer_sensitivity

PyTree = Any


class StatsScale(NamedTuple):
  """Standardization of the statistics features: mean, std (L, 4) over the training models."""
  mean: np.ndarray
  std: np.ndarray


class Generator(NamedTuple):
  """A trained mapping: params of `MappingNet`, the arrangement, the stats scale, config,
  and the per-layer loss weights it was trained with (L,) (None when loaded for sampling)."""
  params: PyTree
  arrangement: Arrangement
  scale: StatsScale
  config: Any
  loss_weights: np.ndarray | None = None


def stats_features(stats: jax.Array) -> jax.Array:
  """[mean_w, std_w, mean_b, std_b] (..., 4) -> [mean_w, log std_w, mean_b, log std_b]."""
  return jnp.stack([stats[..., 0], jnp.log(stats[..., 1]), stats[..., 2],
                    jnp.log(stats[..., 3])], axis=-1)


def stats_from_features(features: jax.Array) -> jax.Array:
  """Inverse of `stats_features`."""
  return jnp.stack([features[..., 0], jnp.exp(features[..., 1]), features[..., 2],
                    jnp.exp(features[..., 3])], axis=-1)


def make_net(config: Any, arrangement: Arrangement) -> MappingNet:
  g = config.generator
  return MappingNet(volume=arrangement.volume_shape, encoder_dim=g.encoder_dim,
                    prototype=tuple(g.prototype), shapes=tuple(tuple(s) for s in g.shapes),
                    kernel=g.kernel, blocked=tuple(g.blocked),
                    deformation_hidden=g.deformation_hidden)


def arranged_targets(arrangement: Arrangement, stacked: PyTree
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
  """(ŵ (N, L, R, C), b̂ (N, L, C), stats features (N, L, 4), raw weights, raw biases)."""
  weights, biases = jax.jit(jax.vmap(arrangement.arrange))(stacked)
  w_hat, b_hat, stats = jax.jit(jax.vmap(arrangement.normalize))(weights, biases)
  return (np.asarray(w_hat), np.asarray(b_hat), np.asarray(stats_features(stats)),
          np.asarray(weights), np.asarray(biases))


def loss_weights(arrangement: Arrangement, weights: np.ndarray, biases: np.ndarray,
                 alpha: float) -> np.ndarray:
  """(L,) sensitivity ** alpha, scaled to mean 1 (alpha 0: every layer 1)."""
  score = np.maximum(layer_sensitivity(arrangement, weights, biases), 1e-12) ** alpha
  return (score / score.mean()).astype(np.float32)


def init_fn(config: Any, arrangement: Arrangement, condition_dim: int,
            mean_targets: tuple[np.ndarray, np.ndarray] | None = None):
  """key -> initial parameters; with `mean_targets` (ŵ (L, R, C), b̂ (L, C) averaged over the
  training models) the heads' offsets start there, so training begins at the mean model
  instead of spending its first steps on moving zero-initialized offsets."""
  net = make_net(config, arrangement)

  def init(key):
    variables = net.init(key, jnp.zeros((1, condition_dim)))
    if mean_targets is None:
      return variables
    heads = dict(variables["params"]["heads"], weight_offset=jnp.asarray(mean_targets[0]),
                 bias_offset=jnp.asarray(mean_targets[1]))
    return {**variables, "params": {**variables["params"], "heads": heads}}
  return init


def loss_function(config: Any, arrangement: Arrangement, layer_weights: np.ndarray):
  """`(params, batch, rng) -> (loss, metrics)`; batch {'condition' (B, F), 'weights',
  'biases', 'stats'}: condition noise `condition.noise`, target noise `loss.target_noise`."""
  net = make_net(config, arrangement)
  w_mask, b_mask = jnp.asarray(arrangement.weight_mask), jnp.asarray(arrangement.bias_mask)
  lam = jnp.asarray(layer_weights)

  def loss_fn(params, batch, rng):
    k_cond, *k_target = jax.random.split(rng, 4)
    cond = batch["condition"]
    cond = cond + config.condition.noise * jax.random.normal(k_cond, cond.shape)
    target = tuple(t + config.loss.target_noise * jax.random.normal(k, t.shape)
                   for k, t in zip(k_target, (batch["weights"], batch["biases"],
                                              batch["stats"])))
    return weighted_mse(net.apply(params, cond), target, w_mask, b_mask, lam)
  return loss_fn


def train(stacked: PyTree, conditions: np.ndarray, config: Any, *,
          arrangement: Arrangement | None = None, workdir: str | None = None) -> Generator:
  """Fits the mapping on N (condition (N, F), model) pairs; leaves of `stacked` (N, ...)."""
  arrangement = arrangement or Arrangement.from_template(
      jax.tree_util.tree_map(lambda x: x[0], stacked), kind=config.arrangement.kind)
  w_hat, b_hat, feats, weights, biases = arranged_targets(arrangement, stacked)
  scale = StatsScale(feats.mean(0), np.where(feats.std(0) < 1e-8, 1.0, feats.std(0)))
  data = {"condition": np.asarray(conditions, np.float32), "weights": w_hat, "biases": b_hat,
          "stats": ((feats - scale.mean) / scale.std).astype(np.float32)}
  lam = loss_weights(arrangement, weights, biases, config.loss.alpha)
  pick = H.random_rows(config.train.seed + 1, len(w_hat), config.train.batch_size)
  state = H.train_generator(
      config.train, config, init_params=init_fn(config, arrangement, data["condition"].shape[1],
                                                (w_hat.mean(0), b_hat.mean(0))),
      loss_fn=loss_function(config, arrangement, lam),
      batch_fn=lambda step: {k: v[pick(step)] for k, v in data.items()},
      workdir=workdir, desc="train mapping")
  return Generator(jax.device_get(state.eval_params()), arrangement, scale, config, lam)


def generate(generator: Generator, conditions: jax.Array) -> PyTree:
  """(B, F) conditions -> B models, stacked (leaves (B, ...)). Traceable; deterministic."""
  arr = generator.arrangement
  w_hat, b_hat, feats = make_net(generator.config, arr).apply(generator.params, conditions)
  scale = generator.scale
  stats = stats_from_features(feats * jnp.asarray(scale.std)[None] + jnp.asarray(scale.mean)[None])
  weights, biases = jax.vmap(arr.denormalize)(w_hat, b_hat, stats)
  return jax.vmap(arr.restore)(weights, biases)


def param_count(generator: Generator) -> int:
  return int(sum(np.size(x) for x in jax.tree_util.tree_leaves(generator.params)))
