"""p-diff training steps at configs/cond_pdiff_lora.py's shapes: the autoencoder step and the
text-conditioned latent diffusion step (forward + backward + AdamW), median of rounds,
compilation excluded, with where the time goes.

  python bench/pdiff_step.py --part autoencoder     # 2,208-long adapter vectors, batch 32
  python bench/pdiff_step.py --part latent          # latent 64, batch 64, 384-d text vectors

Shapes: the adapter length of the config's LoRA zoo (counted from the model, no zoo needed),
padded as the codec pads it; the autoencoder widths and latent size; the denoiser and its
condition. The step is the library's (`make_train_step`: loss, gradients, clipped AdamW,
donated state, norms every `log_every` steps), jitted once. Prints one JSON line, then the
op-time breakdown.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench import stepbench  # noqa: E402
from bench.pdiff_training import adapter_size  # noqa: E402
from bench.rpg_step import apply_overrides, count  # noqa: E402
from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax.methods.pdiff.model import LatentDenoiser, latent_diffusion_loss  # noqa: E402
from paramgen_jax.nn.autoencoder1d import ParamAutoencoder, autoencoder_loss  # noqa: E402
from paramgen_jax.params import padded_length  # noqa: E402
from paramgen_jax.train.recipe import schedule_from_section  # noqa: E402

TEXT_DIM = 384  # MiniLM sentence vectors


def autoencoder_step(config):
  a = config.autoencoder
  length = padded_length(adapter_size(config), multiple=2 ** len(a.channels))
  model = ParamAutoencoder(length, tuple(a.channels), a.latent_dim, a.kernel)
  x = np.random.default_rng(0).normal(size=(config.autoencoder_train.batch_size, length))
  loss_fn = lambda p, b, r: autoencoder_loss(model, p, b["x"], r, input_noise=a.input_noise,
                                             latent_noise=a.latent_noise)
  params = model.init(jax.random.key(0), jnp.zeros(length))
  info = {"length": length, "batch": len(x), "channels": list(a.channels), "params": count(params)}
  return loss_fn, params, {"x": jnp.asarray(x, jnp.float32)}, config.autoencoder_train, info


def latent_step(config, num_tasks=16):
  g, batch = config.generator, config.train.batch_size
  model = LatentDenoiser(g.condition, num_tasks, g.embed_dim, tuple(g.unet_encoder),
                         tuple(g.unet_decoder), conditioning=g.denoiser_conditioning)
  rng = np.random.default_rng(1)
  z = jnp.asarray(rng.normal(size=(batch, config.autoencoder.latent_dim)), jnp.float32)
  cond = jnp.asarray(rng.normal(size=(batch, TEXT_DIM)), jnp.float32)
  schedule = schedule_from_section(config.diffusion)
  loss_fn = lambda p, b, r: latent_diffusion_loss(model, p, b["z"], b["cond"], r, schedule,
                                                  config.diffusion.prediction)
  params = model.init(jax.random.key(0), z[:1], jnp.zeros(1, jnp.int32), cond[:1])
  info = {"latent_dim": z.shape[1], "batch": batch, "condition": g.condition,
          "params": count(params)}
  return loss_fn, params, {"z": z, "cond": cond}, config.train, info


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--part", choices=("autoencoder", "latent"), required=True)
  parser.add_argument("--preset", default=None)
  parser.add_argument("--set", nargs="*", default=[], help="section.key=value overrides")
  parser.add_argument("--rounds", type=int, default=7)
  parser.add_argument("--no-profile", action="store_true")
  args = parser.parse_args()
  config = load_config(f"cond_pdiff_lora:{args.preset or ''}")
  apply_overrides(config, args.set)
  build = autoencoder_step if args.part == "autoencoder" else latent_step
  loss_fn, params, batch, train_cfg, info = build(config)
  timing, breakdown = stepbench.time_train_step(loss_fn, params, batch, train_cfg,
                                                rounds=args.rounds, profile=not args.no_profile)
  stepbench.emit(dict(bench=f"pdiff_{args.part}_step", **timing, **info, overrides=args.set),
                 breakdown)


if __name__ == "__main__":
  main()
