"""RPG training step (forward + backward + AdamW) at configs/rpg_convnext.py's shapes, and
the token denoiser alone; median of rounds, compilation excluded, with where the time goes.

  python bench/rpg_step.py --backbone mamba2       # also mamba (Mamba-1), lstm, transformer,
                                                   # gated_mlp: the config's presets of them
  python bench/rpg_step.py --denoiser-only         # the 1-D conv denoiser, 128 tokens
  python bench/rpg_step.py --set generator.denoiser_conditioning=shared

Shapes: the ConvNeXt-mini target of the config cut into its tokens (the token plan of a
freshly initialised model: the same layout as the collected zoo), train.batch_size models
per step and generator.diffusion_batch tokens for the denoiser. The step is the library's
(`make_train_step`: loss, gradients, clipped AdamW, donated state), jitted once.
`--denoiser-only` times one diffusion-loss step of the denoiser on diffusion_batch random
tokens with random prototypes (the official table's "denoiser alone" row).

Prints one JSON line (median_ms, parameter counts, shapes), then the op-time breakdown.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench import stepbench  # noqa: E402
from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax import diffusion  # noqa: E402
from paramgen_jax.methods.rpg import core  # noqa: E402
from paramgen_jax.methods.rpg.model import RPGGenerator  # noqa: E402
from paramgen_jax.params.codec import TokenCodec  # noqa: E402
from paramgen_jax.train.recipe import schedule_from_section  # noqa: E402
from paramgen_jax.zoo.models import make_target  # noqa: E402


# The config preset of each backbone (default widths; configs/rpg_convnext.py's docstring).
PRESET_OF_BACKBONE = {"mamba2": None, "mamba": "mamba1", "lstm": "lstm",
                      "transformer": "transformer", "gated_mlp": "no_relation"}


def apply_overrides(config, pairs):
  """--set section.key=value (value parsed as a Python literal when it is one)."""
  import ast
  for pair in pairs:
    path, value = pair.split("=", 1)
    try:
      value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
      pass
    *sections, key = path.split(".")
    node = config
    for section in sections:
      node = node[section]
    node[key] = value


def codec_for(config) -> TokenCodec:
  target = make_target(config.model.name, 10, **dict(config.model.options))
  variables = target.init(jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
  stacked = jax.tree_util.tree_map(lambda x: jnp.stack([x, x + 1e-3]), variables)
  return TokenCodec.fit(stacked, token_size=config.tokens.size,
                        granularity=config.tokens.granularity)


def count(params) -> int:
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(params))


def full_step(config, codec):
  """(loss_fn, params, batch, info) for the whole RPG loss (50 permutation states)."""
  b = config.train.batch_size
  loss_fn = core.loss_function(config, codec, num_permutations=50, condition_dim=0)
  params = core.init_fn(config, codec, 50, 0)(jax.random.key(0))
  rng = np.random.default_rng(0)
  batch = {"tokens": jnp.asarray(rng.normal(size=(b, codec.plan.num_tokens, config.tokens.size)),
                                 jnp.float32),
           "permutation": jnp.arange(b, dtype=jnp.int32)}
  denoiser = params["params"]["denoiser"]
  info = {"models_per_step": b, "tokens_per_model": codec.plan.num_tokens,
          "params": count(params), "denoiser_params": count(denoiser)}
  return loss_fn, params, batch, info


def denoiser_step(config, codec):
  """(loss_fn, params, batch, info) for the denoiser alone on diffusion_batch tokens."""
  n, size = config.generator.diffusion_batch, config.tokens.size
  model = core.make_model(config, num_permutations=0, condition_dim=0)
  schedule = schedule_from_section(config.diffusion)
  params = core.init_fn(config, codec, 0, 0)(jax.random.key(0))
  params = {"params": {"denoiser": params["params"]["denoiser"]}}
  rng = np.random.default_rng(0)
  batch = {"tokens": jnp.asarray(rng.normal(size=(n, size)), jnp.float32),
           "prototypes": jnp.asarray(rng.normal(size=(n, model.prototype_dim)), jnp.float32)}

  def loss_fn(p, batch, key):
    def denoise(x_t, time, cond):
      return model.apply(p, x_t, time, cond, method=RPGGenerator.denoise)
    return diffusion.diffusion_loss(denoise, schedule, batch["tokens"], key,
                                    cond=batch["prototypes"],
                                    prediction=config.diffusion.prediction)

  info = {"tokens": n, "token_size": size, "params": count(params)}
  return loss_fn, params, batch, info


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--backbone", default="mamba2", choices=sorted(PRESET_OF_BACKBONE))
  parser.add_argument("--denoiser-only", action="store_true")
  parser.add_argument("--preset", default=None, help="a config preset (overrides --backbone)")
  parser.add_argument("--set", nargs="*", default=[], help="section.key=value overrides")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--no-profile", action="store_true")
  args = parser.parse_args()
  preset = args.preset or PRESET_OF_BACKBONE[args.backbone]
  config = load_config(f"rpg_convnext:{preset or ''}")
  apply_overrides(config, args.set)
  build = denoiser_step if args.denoiser_only else full_step
  loss_fn, params, batch, info = build(config, codec_for(config))
  timing, breakdown = stepbench.time_train_step(loss_fn, params, batch, config.train,
                                                rounds=args.rounds, profile=not args.no_profile)
  what = "rpg_denoiser_step" if args.denoiser_only else f"rpg_step_{config.generator.backbone}"
  stepbench.emit(dict(bench=what, **timing, **info, preset=preset or "default",
                      denoiser=config.generator.denoiser_conditioning, overrides=args.set),
                 breakdown)


if __name__ == "__main__":
  main()
