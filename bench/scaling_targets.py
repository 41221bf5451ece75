"""Generators of one model of a chosen size, per method, for bench/scaling.py.

`build(method, num_params)` -> Point: `fn(big, *small)` generates one model with the method's
own generation function; `big` are the generator's parameters (and per-coordinate statistics)
as ShapeDtypeStructs, to plan before anything is allocated; `small` are concrete (key,
condition). Generators come from each method's default config (or `preset`), untrained.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from bench.rpg_generation import dense_stack
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
from paramgen_jax.params.codec import FlatCodec, TokenCodec

METHODS = ("rpg", "pdiff", "d2nwg", "mapping", "loragen")
WIDTH = 128  # default width of the dense layers (width, width) + bias
LORA_DIM, LORA_RANK = 256, 8
# Methods whose generator cannot be built for a target of any size (none at present).
CANNOT: dict[str, str] = {}


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
  return jax.eval_shape(init, jax.random.key(0))


def _stats(n: int) -> P.TaskStats:
  s = jax.ShapeDtypeStruct((1, n), jnp.float32)
  return P.TaskStats(s, s)


def _without(variables: Any, prefixes: tuple[str, ...]) -> Any:
  """The variables less the top-level modules named with `prefixes` (an encoder that
  generation never calls)."""
  return {"params": {k: v for k, v in variables["params"].items()
                     if not k.startswith(prefixes)}}


def rpg(num_params: int, preset: str | None, devices: int, width: int) -> Point:
  config = load_config(f"rpg_convnext:{preset or ''}")
  layout = P.ParamLayout.from_template(dense_stack(num_params, width))
  groups = len(layout.groups)
  codec = TokenCodec(layout, P.make_token_layout(layout, config.tokens.size,
                                                 config.tokens.granularity),
                     P.LayerStats(np.zeros(groups, np.float32), np.ones(groups, np.float32),
                                  np.ones(groups, np.float32)))
  big = _abstract(rpg_core.init_fn(config, codec, 1, 0))
  generator = rpg_core.Generator(None, codec, config, 1, 0)
  mesh = token_mesh(jax.devices()[:devices]) if devices > 1 else None
  fn = lambda p, k: rpg_core.generate(generator._replace(params=p), k, num_models=1, mesh=mesh)
  g = config.generate
  info = {"tokens": codec.plan.num_tokens, "token_size": config.tokens.size,
          "sampler": f"{config.sample.sampler}{config.sample.steps}",
          "mode": g.mode, "chunk": g.chunk}
  name = f"rpg_tokens_x{devices}" if devices > 1 else "rpg"
  return Point(name, layout.num_params, count(big), fn, big, (jax.random.key(1),), info,
               devices)


def pdiff(num_params: int, preset: str | None, width: int) -> Point:
  config = load_config(f"pdiff_digits:{preset or ''}")
  layout = P.ParamLayout.from_template(dense_stack(num_params, width))
  n, a = layout.num_params, config.autoencoder
  codec = FlatCodec(layout, P.padded_length(n, multiple=2 ** len(a.channels)), _stats(n),
                    ("task",), config.generator.normalization)
  ae = _without(_abstract(pdiff_core.autoencoder_init(config, codec)), ("down", "to_latent"))
  den = _abstract(pdiff_core.denoiser_init(config, codec, None))
  scale = LatentScale(jnp.float32(0.0), jnp.float32(1.0))

  def fn(big, key):
    ae_params, den_params, stats = big
    c = FlatCodec(layout, codec.length, stats, codec.tasks, codec.normalization)
    return pdiff_core.generate(pdiff_core.Generator(ae_params, den_params, scale, c, config,
                                                    None), key, None, 0, num_models=1)
  info = {"latent": a.latent_dim, "sampler": f"{config.sample.sampler}{config.sample.steps}"}
  return Point("pdiff", n, count((ae, den)), fn, (ae, den, codec.stats), (jax.random.key(1),),
               info)


def d2nwg(num_params: int, preset: str | None, width: int) -> Point:
  config = load_config(f"d2nwg_digits:{preset or ''}")
  layout = P.ParamLayout.from_template(dense_stack(num_params, width))
  n = layout.num_params
  codec = FlatCodec(layout, P.padded_length(n, multiple=config.vae.chunk), _stats(n), ("all",),
                    "batch")
  z = d2nwg_core.latent_size(config, codec.length)
  dims = (codec.length, z, 1, config.tasks.subset_k, config.support.shots,
          config.backbone.hidden[-1])
  inits = d2nwg_core._inits(config, dims)
  vae = _without(_abstract(inits["vae"]), ("adapter_in", "down", "to_moments"))
  den = _abstract(inits["diffusion"])
  scale = d2nwg_core.Scale(np.zeros(z, np.float32), np.ones(z, np.float32))
  cond = {"embedding": np.zeros(config.align.proj_dim, np.float32), "arch": np.int32(0)}

  def fn(big, cond, key):
    vae_params, den_params, stats = big
    g = d2nwg_core.Generator(vae_params, None, den_params, scale, config, dims)
    c = FlatCodec(layout, codec.length, stats, codec.tasks, codec.normalization)
    return d2nwg_core.decode_models(g, c, d2nwg_core.sample_latents(g, cond, key, 1))
  info = {"latent": z, "sampler": f"{config.sample.sampler}{config.sample.steps}"}
  return Point("d2nwg", n, count((vae, den)), fn, (vae, den, codec.stats),
               (cond, jax.random.key(1)), info)


def mapping(num_params: int, preset: str | None, width: int) -> Point:
  config = load_config(f"mapping_unseen_binary:{preset or ''}")
  arrangement = Arrangement.from_template(dense_stack(num_params, width),
                                          kind=config.arrangement.kind)
  layers = arrangement.num_layers
  big = _abstract(mapping_core.init_fn(config, arrangement, 10))
  scale = mapping_core.StatsScale(np.zeros((layers, 4), np.float32),
                                  np.ones((layers, 4), np.float32))
  fn = lambda p, c: mapping_core.generate(
      mapping_core.Generator(p, arrangement, scale, config), c)
  info = {"volume": list(arrangement.volume_shape), "sampler": "one forward pass"}
  return Point("mapping", arrangement.layout.num_params, count(big), fn, big,
               (np.zeros((1, 10), np.float32),), info)


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
  plan = LocationPlan.from_template(adapter)
  n, d_z = plan.num_locations, config.vae.latent_dim
  vae = _abstract(loragen_core._vae_init(config, plan))
  dit = _abstract(loragen_core._dit_init(config, plan, 384))
  norm = loragen_core.Normalizer({m.name: np.ones(m.size, np.float32) for m in plan.modules},
                                 np.zeros((n, d_z), np.float32), np.ones((n, d_z), np.float32),
                                 np.zeros(384, np.float32), np.float32(1))
  fn = lambda big, c, k: loragen_core.generate(
      loragen_core.Generator(big[0], big[1], norm, plan, config), k, c, 1)
  info = {"locations": n, "lora": f"d {LORA_DIM} rank {LORA_RANK}",
          "sampler": f"{config.sample.sampler}{config.sample.steps}"}
  return Point("loragen", count(adapter), count((vae, dit)), fn, (vae, dit),
               (np.zeros(384, np.float32), jax.random.key(1)), info)


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
