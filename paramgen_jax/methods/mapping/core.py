"""Data-conditioned mapping in memory: fit the decoder on (condition, model) pairs, then map
a condition to a model in one forward pass (no diffusion, no sampling noise).

    generator = core.train(zoo, config, conditions=conditions)   # zoo leaves (N, ...),
                                                                  #   conditions (N, F)
    models = core.generate(generator, key, new_conditions, M)     # (M, F) -> leaves (M, ...)
    core.save(generator, path); generator = core.load(path)

The paper's decoder (`generator.decoder = 'hybrid_conv'`) predicts the structure-aware
arrangement (`params.arrangement`): per model and layer the z-scored weights and bias, and
the four statistics [mean_w, log std_w, mean_b, log std_b] standardized per (layer,
statistic) over the training models. Its loss weighs each layer by its sensitivity (std of
its parameters across the zoo, normalized) raised to `loss.alpha`. The MLP decoder
(`'mlp'`, `flat`) predicts every weight coordinate standardized over the training models,
each coordinate weighed alike.
No file is read or written unless `train` gets a `workdir` (checkpoints, resume, metrics).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import struct

from paramgen_jax import configlib
from paramgen_jax import artifact, precision
from paramgen_jax.methods.mapping import flat
from paramgen_jax.methods.mapping.model import MappingNet, MLPMapping, weighted_mse
from paramgen_jax.params.arrangement import Arrangement, layer_sensitivity
from paramgen_jax.params import regression
from paramgen_jax.params.normalize import TaskStats
from paramgen_jax.train import recipe

PyTree = Any
METHOD = "mapping"


class StatsScale(NamedTuple):
  """Standardization of the statistics features: mean, std (L, 4) over the training models."""
  mean: jax.Array
  std: jax.Array


@struct.dataclass
class Generator:
  """A trained mapping.

  params: the decoder's variables; scale: the statistics' standardization (`StatsScale`, L
  by 4 each; the MLP decoder: `TaskStats`, (1, P) each); loss_weights: (L,) the
  per-layer weights of the loss it was trained with (1 for the MLP decoder). Static:
  arrangement (the generated architecture's volume), config (FrozenConfigDict) and
  train_tasks (distinct conditions it was trained on). ridge: (F+1, P) the regression the
  decoder's output is added to (`generator.residual = 'ridge'`), or None.
  """
  params: PyTree
  scale: StatsScale
  loss_weights: jax.Array
  arrangement: Arrangement = struct.field(pytree_node=False)
  config: Any = struct.field(pytree_node=False)
  train_tasks: int = struct.field(pytree_node=False)
  ridge: jax.Array | None = None

  @property
  def condition_dim(self) -> int:
    """F, the width of one condition (the encoder's input)."""
    return int(self.params["params"]["encoder"]["kernel"].shape[0])


def small_config() -> ml_collections.ConfigDict:
  """A recipe that trains in well under a minute on a 2-core CPU on a small model (a few layers of
  up to 16 x 16 entries): one hybrid block on 8 x 8 maps, 200 steps."""
  return ml_collections.ConfigDict({
      "arrangement": {"kind": "structure"},
      "condition": {"noise": 1e-3},
      "generator": {"decoder": "hybrid_conv", "encoder_dim": 16, "prototype": (4, 4, 4),
                    "shapes": ((4, 8, 8),), "kernel": 3, "blocked": (), "deformation_hidden": 0,
                    "hidden": (64,), "residual": "none", "ridge_lambda": 100.0},
      "loss": {"alpha": 1.0, "target_noise": 2e-4},
      "train": configlib.train_section(steps=200, batch_size=16, lr=3e-3, warmup_steps=10,
                                       weight_decay=0.01, log_every=50, checkpoint_every=200,
                                       keep_checkpoints=1),
      "generate": {"compute_dtype": "float32"},
  })


def stats_features(stats: jax.Array) -> jax.Array:
  """[mean_w, std_w, mean_b, std_b] (..., 4) -> [mean_w, log std_w, mean_b, log std_b]."""
  return jnp.stack([stats[..., 0], jnp.log(stats[..., 1]), stats[..., 2],
                    jnp.log(stats[..., 3])], axis=-1)


def stats_from_features(features: jax.Array) -> jax.Array:
  """Inverse of `stats_features`."""
  return jnp.stack([features[..., 0], jnp.exp(features[..., 1]), features[..., 2],
                    jnp.exp(features[..., 3])], axis=-1)


def decoder_kind(generator_cfg: Any) -> str:
  """'hybrid_conv' (the paper's, and every generator saved before the choice existed) or
  'mlp'."""
  return generator_cfg.get("decoder", "hybrid_conv")


def make_net(generator_cfg: Any, arrangement: Arrangement) -> MappingNet | MLPMapping:
  """The decoder of a `generator` config section for the arrangement's volume."""
  g = generator_cfg
  if decoder_kind(g) == "mlp":
    return MLPMapping(num_params=arrangement.layout.num_params, encoder_dim=g.encoder_dim,
                      hidden=tuple(g.hidden))
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


def init_fn(generator_cfg: Any, arrangement: Arrangement, condition_dim: int,
            mean_targets: tuple[np.ndarray, np.ndarray] | None = None):
  """key -> initial parameters; with `mean_targets` (ŵ (L, R, C), b̂ (L, C) averaged over the
  training models) the heads' offsets start there, so training begins at the mean model
  instead of spending its first steps on moving zero-initialized offsets."""
  net = make_net(generator_cfg, arrangement)

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
  net = make_net(config.generator, arrangement)
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


def _checked_conditions(conditions: Any, count: int) -> np.ndarray:
  """conditions as (N, F) float32, or ValueError (one line)."""
  if conditions is None:
    raise ValueError("mapping.train needs conditions: one (F,) vector per zoo model, (N, F)")
  conditions = np.asarray(conditions, np.float32)
  if conditions.ndim != 2 or conditions.shape[0] != count:
    raise ValueError(f"mapping.train: conditions must be (N, F) with N = {count} zoo models, "
                     f"got shape {conditions.shape}")
  return conditions


def _conv_setup(config: Any, arrangement: Arrangement, zoo: PyTree, conditions: np.ndarray):
  """(scale, loss weights, data, init, loss_fn) of the paper's decoder."""
  w_hat, b_hat, feats, weights, biases = arranged_targets(arrangement, zoo)
  scale = StatsScale(feats.mean(0), np.where(feats.std(0) < 1e-8, 1.0, feats.std(0)))
  data = {"condition": conditions, "weights": w_hat, "biases": b_hat,
          "stats": ((feats - scale.mean) / scale.std).astype(np.float32)}
  lam = loss_weights(arrangement, weights, biases, config.loss.alpha)
  init = init_fn(config.generator, arrangement, conditions.shape[1],
                 (w_hat.mean(0), b_hat.mean(0)))
  return scale, lam, data, init, loss_function(config, arrangement, lam)


def _mlp_setup(config: Any, arrangement: Arrangement, zoo: PyTree, conditions: np.ndarray):
  """(scale, loss weights, data, init, loss_fn) of the MLP decoder."""
  coordinates, scale = flat.standardized(arrangement.layout, zoo)
  net = make_net(config.generator, arrangement)
  width = conditions.shape[1]
  return (scale, np.ones(arrangement.num_layers, np.float32),
          {"condition": conditions, "coordinates": coordinates},
          lambda key: net.init(key, jnp.zeros((1, width))),
          flat.loss_function(net, config.condition.noise, config.loss.target_noise))


def train(zoo: PyTree, config: Any, *, conditions: Any = None,
          workdir: str | None = None) -> Generator:
  """Fits the mapping on N (condition, model) pairs.

  zoo: stacked models of one architecture (leaves (N, ...)); conditions: (N, F) floats,
  required; workdir: checkpoints, resume and metrics there (None: in memory).
  """
  count = len(jax.tree_util.tree_leaves(zoo)[0])
  conditions = _checked_conditions(conditions, count)
  arrangement = Arrangement.from_template(jax.tree_util.tree_map(lambda x: x[0], zoo),
                                          kind=config.arrangement.kind)
  ridge = None
  if config.generator.get("residual", "none") == "ridge":
    zoo, ridge = regression.ridge_residuals(arrangement.layout, zoo, conditions,
                                            config.generator.ridge_lambda)
  setup = _mlp_setup if decoder_kind(config.generator) == "mlp" else _conv_setup
  scale, lam, data, init, loss_fn = setup(config, arrangement, zoo, conditions)
  pick = recipe.random_rows(config.train.seed + 1, count, config.train.batch_size)
  params = recipe.train_generator(
      config.train, config.get("mesh"), init_params=init, loss_fn=loss_fn,
      batch_fn=lambda step: {k: v[pick(step)] for k, v in data.items()},
      workdir=workdir, desc="train mapping")
  return Generator(params, scale, lam, arrangement, artifact.frozen(config),
                   len(np.unique(conditions, axis=0)), ridge)


def generate(generator: Generator, key: jax.Array, conditions: jax.Array,
             num_models: int) -> PyTree:
  """conditions (num_models, F) -> num_models models, stacked (leaves (num_models, ...)).

  One forward pass: deterministic, `key` is accepted and ignored.
  """
  if num_models < 1:
    raise ValueError(f"mapping.generate: num_models must be >= 1, got {num_models}")
  del key
  width = generator.condition_dim
  if conditions is None or np.shape(conditions) != (num_models, width):
    got = None if conditions is None else tuple(np.shape(conditions))
    raise ValueError(f"mapping.generate: conditions must be (num_models, F) = "
                     f"({num_models}, {width}), got {got}")
  arr, dtype = generator.arrangement, precision.section_dtype(generator.config.get("generate"))
  with precision.autocast(dtype):
    outputs = precision.cast_floating(make_net(generator.config.generator, arr).apply(
        precision.cast_floating(generator.params, dtype), jnp.asarray(conditions, jnp.float32)),
        jnp.float32)
  if decoder_kind(generator.config.generator) == "mlp":
    models = flat.models_from(arr.layout, generator.scale, outputs)
  else:
    w_hat, b_hat, feats = outputs
    scale = generator.scale
    stats = stats_from_features(feats * jnp.asarray(scale.std)[None]
                                + jnp.asarray(scale.mean)[None])
    weights, biases = jax.vmap(arr.denormalize)(w_hat, b_hat, stats)
    models = jax.vmap(arr.restore)(weights, biases)
  if generator.ridge is None:
    return models
  return regression.add_ridge(arr.layout, generator.ridge, conditions, models)


def save(generator: Generator, path: str) -> None:
  """Writes the generator directory `path` (`artifact`): the decoder, the scale, the loss
  weights, the config and the generated architecture (its template, for the arrangement)."""
  layout = generator.arrangement.layout
  artifact.save(path, method=METHOD,
                arrays={"params": generator.params, "scale": generator.scale._asdict(),
                        "loss_weights": generator.loss_weights,
                        **({} if generator.ridge is None else {"ridge": generator.ridge})},
                config=generator.config,
                template=layout.from_vector(np.zeros(layout.num_params, layout.dtype)),
                meta={"condition_dim": generator.condition_dim,
                      "volume": list(generator.arrangement.volume_shape),
                      "train_tasks": generator.train_tasks})


def load(path: str) -> Generator:
  """The generator `save` wrote in `path`; CorruptDataError (one line) for an incomplete or
  altered directory or another method's."""
  found = artifact.load(path, method=METHOD)
  arrangement = Arrangement.from_template(found.template, kind=found.config.arrangement.kind)
  arrays = found.arrays
  scale_type = TaskStats if decoder_kind(found.config.generator) == "mlp" else StatsScale
  return Generator(arrays["params"], scale_type(**arrays["scale"]), arrays["loss_weights"],
                   arrangement, found.config, int(found.meta["train_tasks"]), arrays.get("ridge"))
