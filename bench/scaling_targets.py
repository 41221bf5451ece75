"""Generators built from shapes, per method, and generators of one model of a chosen size.

`abstract_generator(method, config, template, num_models, zoo)` -> (generator, conditions):
the method's protocol Generator (`paramgen_jax.protocol`) for models shaped like `template`,
built with no zoo and no training: its networks' parameters are `jax.ShapeDtypeStruct`s of
the method's init functions, its codec (or location plan, arrangement) is built from the
template's layout, its statistics and scales are neutral (mean 0, std 1); `conditions` are
zeros of `num_models` models, the shapes `generate` takes (None when unconditional). What a
generator's shapes take from the zoo it would be trained on is `ZooShape`. Planning needs
nothing else:

    generator, conditions = abstract_generator("rpg", config, template, 10)
    count, run = memory.plan_generation(rpg.generate, generator, key, conditions, 10, budget,
                                        what="RPG generation")

Networks' parts that generation never calls (the autoencoders' encoders) are left out, and
D2NWG's dataset encoder too: it generates from embeddings, as the sample stage does.

`build(method, num_params)` -> Point, for bench/scaling.py: `fn(big, key, conditions)`
generates one model with the method's `generate`; `big` are the networks' parameters (and a
flat codec's statistics) as ShapeDtypeStructs, to plan before anything is allocated; `small`
are concrete (key, conditions). Generators come from each method's default config (or
`preset`), untrained.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bench.rpg_generation import dense_stack
from paramgen_jax import artifact
from paramgen_jax import params as P
from paramgen_jax.configlib import load_config
from paramgen_jax.methods.d2nwg import core as d2nwg_core
from paramgen_jax.methods.loragen import core as loragen_core
from paramgen_jax.methods.loragen.locations import LocationPlan
from paramgen_jax.methods.mapping import core as mapping_core
from paramgen_jax.methods.pdiff import core as pdiff_core
from paramgen_jax.methods.pdiff.model import LatentScale
from paramgen_jax.methods.rpg import core as rpg_core
from paramgen_jax.methods.rpg.token_parallel import token_mesh
from paramgen_jax.params.arrangement import Arrangement
from paramgen_jax.params.normalize import TaskStats
from paramgen_jax.params.codec import FlatCodec, TokenCodec

METHODS = ("rpg", "pdiff", "d2nwg", "mapping", "loragen")
WIDTH = 128  # default width of the dense layers (width, width) + bias
LORA_DIM, LORA_RANK = 256, 8
# Width of each kind of condition vector (MiniLM text: 384; 'bits': the 10-bit task code).
CONDITION_DIMS = {"bits": 10, "text": 384, "text_description": 384}
# Methods whose generator cannot be built for a target of any size (none at present).
CANNOT: dict[str, str] = {}


class ZooShape(NamedTuple):
  """What a generator's shapes take from the zoo it would be trained on.

  condition_dim: C, the width of the condition vectors (0: unconditional; RPG, p-diff,
    LoRAGen, the mapping); num_tasks: the seen tasks (p-diff's statistics rows when
    conditional, the mapping's train_tasks); num_permutations: RPG's permutation states.
  """
  condition_dim: int = 0
  num_tasks: int = 1
  num_permutations: int = 0


class Point(NamedTuple):
  method: str
  num_params: int
  generator_params: int
  fn: Callable
  big: Any
  small: tuple
  info: dict
  devices: int = 1


def count(tree: Any) -> int:
  return int(sum(np.prod(x.shape) for x in jax.tree_util.tree_leaves(tree)))


def _abstract(init: Callable) -> Any:
  """The ShapeDtypeStructs of `init(key)`: traced, nothing computed."""
  return jax.eval_shape(init, jax.random.key(0))


def _concrete(template: Any) -> Any:
  """The template with zeros for its abstract leaves: layouts copy constant (integer) leaves
  from it, and LoRAGen's plan reads arrays."""
  return jax.tree_util.tree_map(
      lambda s: np.zeros(s.shape, s.dtype) if isinstance(s, jax.ShapeDtypeStruct) else s,
      template)


def _without(variables: Any, prefixes: tuple[str, ...]) -> Any:
  """The variables less the top-level modules named with `prefixes` (an encoder that
  generation never calls)."""
  return {"params": {k: v for k, v in variables["params"].items()
                     if not k.startswith(prefixes)}}


def _vectors(num_models: int, dim: int) -> np.ndarray | None:
  """(num_models, dim) zero conditions, or None for dim 0 (unconditional)."""
  return np.zeros((num_models, dim), np.float32) if dim else None


def _flat_codec(template: Any, multiple: int, tasks: tuple[str, ...],
                normalization: str) -> FlatCodec:
  """A FlatCodec of the template's layout, padded to `multiple`, with neutral statistics
  (T, n) for each of the T `tasks`."""
  layout = P.ParamLayout.from_template(template)
  shape = (len(tasks), layout.num_params)
  return FlatCodec(layout, P.padded_length(layout.num_params, multiple=multiple),
                   P.TaskStats(jnp.zeros(shape), jnp.ones(shape)), tasks, normalization)


def rpg_generator(config: Any, template: Any, num_models: int,
                  zoo: ZooShape) -> tuple[rpg_core.Generator, Any]:
  """RPG: a TokenCodec of the template (per-layer statistics neutral); conditions
  (num_models, C) or None."""
  layout = P.ParamLayout.from_template(template)
  groups = len(layout.groups)
  codec = TokenCodec(layout, P.make_token_layout(layout, config.tokens.size,
                                                 config.tokens.granularity),
                     P.LayerStats(np.zeros(groups, np.float32), np.ones(groups, np.float32),
                                  np.ones(groups, np.float32)))
  perms, dim = zoo.num_permutations, zoo.condition_dim
  params = _abstract(rpg_core.init_fn(config, codec, perms, dim))
  return (rpg_core.Generator(params, codec, config, perms, dim),
          _vectors(num_models, dim))


def pdiff_generator(config: Any, template: Any, num_models: int,
                    zoo: ZooShape) -> tuple[pdiff_core.Generator, Any]:
  """p-diff: conditional unless generator.condition is 'none', then on zoo.num_tasks seen
  tasks (vectors (T, C), or task indices (T,) for 'learned'); conditions (num_models, C),
  (num_models,) or None."""
  kind = config.generator.condition
  tasks = 1 if kind == "none" else zoo.num_tasks
  if kind == "none":
    seen = conditions = None
  elif kind == "learned":
    seen, conditions = np.arange(tasks, dtype=np.int32), np.zeros(num_models, np.int32)
  else:
    seen = np.zeros((tasks, zoo.condition_dim), np.float32)  # values do not change shapes
    conditions = np.zeros((num_models, zoo.condition_dim), np.float32)
  codec = _flat_codec(template, 2 ** len(config.autoencoder.channels),
                      tuple(f"task {k}" for k in range(tasks)), config.generator.normalization)
  ae = _without(_abstract(pdiff_core.autoencoder_init(config, codec)), ("down", "to_latent"))
  den = _abstract(pdiff_core.denoiser_init(config, codec, None if seen is None else seen[:1]))
  scale = LatentScale(jnp.float32(0.0), jnp.float32(1.0))
  return pdiff_core.Generator(ae, den, scale, seen, codec, config), conditions


def d2nwg_generator(config: Any, template: Any, num_models: int,
                    zoo: ZooShape) -> tuple[d2nwg_core.Generator, Any]:
  """D2NWG of one architecture: conditions are embeddings (num_models, E) (encoder 'set'),
  or one support set per model (encoder 'mlp': support (num_models, 1, C, K, F))."""
  del zoo  # its shapes are the config's: classes, shots, backbone features
  codec = _flat_codec(template, config.vae.chunk, ("all",), "batch")
  z = d2nwg_core.latent_size(config, codec.length)
  c, k, f = config.tasks.subset_k, config.support.shots, config.backbone.hidden[-1]
  dims = (codec.length, z, 1, c, k, f)
  inits = d2nwg_core._inits(config, dims)
  vae = (_without(_abstract(inits["vae"]), ("adapter_in", "down", "to_moments"))
         if config.vae.use else None)
  scale = d2nwg_core.Scale(np.zeros(z, np.float32), np.ones(z, np.float32))
  generator = d2nwg_core.Generator(vae, None, _abstract(inits["diffusion"]), scale, config,
                                   (codec,), dims)
  if config.encoder.kind == "mlp":
    return generator, {"support": np.zeros((num_models, 1, c, k, f), np.float32),
                       "mask": np.ones((num_models, 1, c, k), bool)}
  return generator, {"embedding": np.zeros((num_models, config.align.proj_dim), np.float32)}


def loragen_generator(config: Any, template: Any, num_models: int,
                      zoo: ZooShape) -> tuple[loragen_core.Generator, Any]:
  """LoRAGen: the template's location plan; conditions (num_models, C)."""
  plan = LocationPlan.from_template(template)
  n, d_z, dim = plan.num_locations, config.vae.latent_dim, zoo.condition_dim
  vae = _abstract(loragen_core._vae_init(config, plan))
  dit = _abstract(loragen_core._dit_init(config, plan, dim))
  norm = loragen_core.Normalizer({m.name: np.ones(m.size, np.float32) for m in plan.modules},
                                 np.zeros((n, d_z), np.float32), np.ones((n, d_z), np.float32),
                                 np.zeros(dim, np.float32), np.float32(1))
  return (loragen_core.Generator(vae, dit, norm, plan, config),
          np.zeros((num_models, dim), np.float32))


def mapping_generator(config: Any, template: Any, num_models: int,
                      zoo: ZooShape) -> tuple[mapping_core.Generator, Any]:
  """The mapping: the template's arrangement (the MLP decoder: each coordinate's scale; with
  `generator.residual = 'ridge'`, the regression's coefficients); conditions (num_models, C)."""
  arrangement = Arrangement.from_template(template, kind=config.arrangement.kind)
  layers, num_params = arrangement.num_layers, arrangement.layout.num_params
  params = _abstract(mapping_core.init_fn(config.generator, arrangement, zoo.condition_dim))
  if mapping_core.decoder_kind(config.generator) == "mlp":
    scale = TaskStats(np.zeros((1, num_params), np.float32), np.ones((1, num_params), np.float32))
  else:
    scale = mapping_core.StatsScale(np.zeros((layers, 4), np.float32),
                                    np.ones((layers, 4), np.float32))
  ridge = (np.zeros((zoo.condition_dim + 1, num_params), np.float32)
           if config.generator.get("residual", "none") == "ridge" else None)
  generator = mapping_core.Generator(params, scale, np.ones(layers, np.float32), arrangement,
                                     config, zoo.num_tasks, ridge)
  return generator, np.zeros((num_models, zoo.condition_dim), np.float32)


BUILDERS = {"rpg": rpg_generator, "pdiff": pdiff_generator, "d2nwg": d2nwg_generator,
            "loragen": loragen_generator, "mapping": mapping_generator}


def abstract_generator(method: str, config: Any, template: Any, num_models: int,
                       zoo: ZooShape = ZooShape()) -> tuple[Any, Any]:
  """(generator, conditions of `num_models` models) of `method` for models shaped like
  `template` (arrays or ShapeDtypeStructs), from shapes alone (module docstring); the
  generator's config is `artifact.frozen(config)`."""
  return BUILDERS[method](artifact.frozen(config), _concrete(template), num_models, zoo)


# -- targets of a chosen size, for bench/scaling.py ----------------------------------------

def _stats_as_arguments(generator: Any) -> tuple[Any, Any, Callable]:
  """(generator, its flat codec's statistics as ShapeDtypeStructs, put(generator, stats)).

  The statistics (T, n) are static in a generator, so a program closing over them would
  carry them as constants (2 GiB at 2**28 parameters); the Point passes them as arguments
  instead, put back in the trace. (generator, None, identity) for the other codecs.
  """
  if isinstance(generator, pdiff_core.Generator):
    codec = generator.codec
    put = lambda g, s: g.replace(codec=dataclasses.replace(g.codec, stats=s))
  elif isinstance(generator, d2nwg_core.Generator):  # one architecture, one codec
    codec = generator.codecs[0]
    put = lambda g, s: g.replace(codecs=(dataclasses.replace(g.codecs[0], stats=s),))
  else:
    return generator, None, lambda g, s: g
  stats = jax.tree_util.tree_map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), codec.stats)
  return put(generator, stats), stats, put


def _split(generator: Any) -> tuple[list, Callable]:
  """(the generator's abstract leaves (its networks), rebuild(arrays) -> the generator with
  those arrays in their place). Its concrete leaves (neutral scales) stay constants."""
  leaves, treedef = jax.tree_util.tree_flatten(generator)
  where = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.ShapeDtypeStruct)]

  def rebuild(arrays: list) -> Any:
    full = list(leaves)
    for i, a in zip(where, arrays):
      full[i] = a
    return jax.tree_util.tree_unflatten(treedef, full)
  return [leaves[i] for i in where], rebuild


def _point(name: str, generate: Callable, built: tuple, num_params: int, info: dict,
           devices: int = 1) -> Point:
  """The Point of `generate(generator, key, conditions, 1)` for `built` = (generator,
  conditions of one model) from `abstract_generator`."""
  generator, stats, put = _stats_as_arguments(built[0])
  networks, rebuild = _split(generator)

  def fn(big, key, conditions):
    return generate(put(rebuild(big[0]), big[1]), key, conditions, 1)
  return Point(name, num_params, count(networks), fn, (networks, stats),
               (jax.random.key(1), built[1]), info, devices)


def _sampler(config: Any) -> str:
  return f"{config.sample.sampler}{config.sample.steps}"


def rpg(num_params: int, preset: str | None, devices: int, width: int) -> Point:
  config = load_config(f"rpg_convnext:{preset or ''}")
  built = abstract_generator("rpg", config, dense_stack(num_params, width), 1,
                             ZooShape(num_permutations=1))
  codec = built[0].codec
  mesh = token_mesh(jax.devices()[:devices]) if devices > 1 else None
  g = config.generate
  info = {"tokens": codec.plan.num_tokens, "token_size": config.tokens.size,
          "sampler": _sampler(config), "mode": g.mode, "chunk": g.chunk}
  name = f"rpg_tokens_x{devices}" if devices > 1 else "rpg"
  return _point(name, functools.partial(rpg_core.generate, mesh=mesh), built,
                codec.layout.num_params, info, devices)


def pdiff(num_params: int, preset: str | None, width: int) -> Point:
  config = load_config(f"pdiff_digits:{preset or ''}")
  built = abstract_generator("pdiff", config, dense_stack(num_params, width), 1)
  info = {"latent": config.autoencoder.latent_dim, "sampler": _sampler(config)}
  return _point("pdiff", pdiff_core.generate, built, built[0].codec.layout.num_params, info)


def d2nwg(num_params: int, preset: str | None, width: int) -> Point:
  config = load_config(f"d2nwg_digits:{preset or ''}")
  built = abstract_generator("d2nwg", config, dense_stack(num_params, width), 1)
  generator = built[0]
  info = {"latent": generator.dims[1], "sampler": _sampler(config)}
  return _point("d2nwg", d2nwg_core.generate, built, generator.codecs[0].layout.num_params,
                info)


def mapping(num_params: int, preset: str | None, width: int) -> Point:
  config = load_config(f"mapping_unseen_binary:{preset or ''}")
  built = abstract_generator("mapping", config, dense_stack(num_params, width), 1,
                             ZooShape(condition_dim=CONDITION_DIMS[config.condition.kind]))
  arrangement = built[0].arrangement
  info = {"volume": list(arrangement.volume_shape), "sampler": "one forward pass"}
  return _point("mapping", mapping_core.generate, built, arrangement.layout.num_params, info)


def lora_adapter(num_params: int, dim: int = LORA_DIM, rank: int = LORA_RANK) -> dict:
  """LoRA adapters of query and value, (dim, rank) and (rank, dim), in as many blocks as
  make about `num_params`, and a 10-class head."""
  blocks = max(1, round(num_params / (4 * dim * rank)))
  lora = lambda: {"lora_a": np.zeros((dim, rank), np.float32),
                  "lora_b": np.zeros((rank, dim), np.float32)}
  adapter = {f"Block_{i}": {"query": lora(), "value": lora()} for i in range(blocks)}
  adapter["Dense_0"] = {"kernel": np.zeros((dim, 10), np.float32),
                        "bias": np.zeros((10,), np.float32)}
  return adapter


def loragen(num_params: int, preset: str | None, width: int) -> Point:
  del width  # the adapter's shapes are LORA_DIM and LORA_RANK
  config = load_config(f"loragen_lora:{preset or ''}")
  adapter = lora_adapter(num_params)
  built = abstract_generator("loragen", config, adapter, 1,
                             ZooShape(condition_dim=CONDITION_DIMS["text"]))
  info = {"locations": built[0].plan.num_locations, "lora": f"d {LORA_DIM} rank {LORA_RANK}",
          "sampler": _sampler(config)}
  return _point("loragen", loragen_core.generate, built, count(adapter), info)


def build(method: str, num_params: int, *, preset: str | None = None, devices: int = 1,
          width: int = WIDTH) -> Point | None:
  """The Point of `method` ('rpg_tokens': RPG on `devices` devices) for a target of about
  `num_params` parameters in dense layers of `width`, or None when the method cannot be
  built (`CANNOT`)."""
  if method in CANNOT:
    return None
  if method in ("rpg", "rpg_tokens"):
    return rpg(num_params, preset, devices if method == "rpg_tokens" else 1, width)
  return {"pdiff": pdiff, "d2nwg": d2nwg, "mapping": mapping,
          "loragen": loragen}[method](num_params, preset, width)
