"""p-diff training throughput: autoencoder and latent-diffusion steps per second.

  python bench/pdiff_training.py [--preset default] [--steps 50]

Shapes come from configs/cond_pdiff_lora.py's preset: the adapter vector length of its LoRA
zoo (counted from the model, no zoo needed), the autoencoder widths and latent size, the
denoiser and its condition (text: 384-d vectors). Each step is the library's jitted train
step (`make_train_step`: loss, gradients, AdamW, donated state), timed over `--steps` steps
after 3 warm-up steps (compilation excluded). Prints one JSON line.
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax import diffusion  # noqa: E402
from paramgen_jax.methods.pdiff.model import LatentDenoiser, latent_diffusion_loss  # noqa: E402
from paramgen_jax.nn.autoencoder1d import ParamAutoencoder, autoencoder_loss  # noqa: E402
from paramgen_jax.params import padded_length  # noqa: E402
from paramgen_jax.train import TrainState, make_optimizer, make_train_step  # noqa: E402
from paramgen_jax.zoo import lora  # noqa: E402
from paramgen_jax.zoo.models import make_target  # noqa: E402



def adapter_size(config) -> int:
  a = config.adapter
  target = make_target(config.model.name, 2, lora_rank=a.rank, lora_alpha=a.alpha,
                       lora_targets=tuple(a.targets), **dict(config.model.options))
  shapes = jax.eval_shape(lambda k: target.init(k, jnp.zeros((1, 8, 8, 1))), jax.random.key(0))
  return sum(int(np.prod(l.shape)) for l in jax.tree_util.tree_leaves(
      lora.select_variables(shapes, lora.ADAPTER_PATTERNS)))


def steps_per_second(loss_fn, init_params, batch, train_cfg, steps) -> float:
  tx, _ = make_optimizer(train_cfg)
  state = TrainState.create(init_params, tx)
  step = jax.jit(make_train_step(loss_fn, tx), donate_argnums=(0,))
  key = jax.random.key(0)
  for i in range(3):
    state, metrics = step(state, batch, jax.random.fold_in(key, i))
  jax.block_until_ready(metrics)
  start = time.perf_counter()
  for i in range(steps):
    state, metrics = step(state, batch, jax.random.fold_in(key, 100 + i))
  jax.block_until_ready(metrics)
  return steps / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--preset", default="default")
  parser.add_argument("--steps", type=int, default=50)
  args = parser.parse_args()
  config = load_config(f"cond_pdiff_lora:{'' if args.preset == 'default' else args.preset}")
  ae_cfg, num_params = config.autoencoder, adapter_size(config)
  length = padded_length(num_params, multiple=2 ** len(ae_cfg.channels))
  ae = ParamAutoencoder(length, tuple(ae_cfg.channels), ae_cfg.latent_dim, ae_cfg.kernel)
  x = np.random.default_rng(0).normal(size=(config.autoencoder_train.batch_size, length))
  ae_rate = steps_per_second(
      lambda p, b, r: autoencoder_loss(ae, p, b["x"], r), ae.init(jax.random.key(0),
                                                                   jnp.zeros(length)),
      {"x": jnp.asarray(x, jnp.float32)}, config.autoencoder_train, args.steps)

  g = config.generator
  den = LatentDenoiser(g.condition, 16, g.embed_dim, tuple(g.unet_encoder), tuple(g.unet_decoder))
  batch_size, dim = config.train.batch_size, ae_cfg.latent_dim
  cond = {"learned": jnp.zeros(batch_size, jnp.int32), "onehot": jnp.zeros((batch_size, 16)),
          "none": None}.get(g.condition, jnp.ones((batch_size, 384)))
  schedule = diffusion.get_schedule("linear", 1000, beta_start=1e-4, beta_end=0.02)
  z = jnp.asarray(np.random.default_rng(1).normal(size=(batch_size, dim)), jnp.float32)
  den_rate = steps_per_second(
      lambda p, b, r: latent_diffusion_loss(den, p, b["z"], b.get("cond"), r, schedule, "eps"),
      den.init(jax.random.key(0), z[:1], jnp.zeros(1, jnp.int32),
               None if cond is None else cond[:1]),
      {"z": z} if cond is None else {"z": z, "cond": cond}, config.train, args.steps)
  print(json.dumps({"bench": "pdiff_training", "device": jax.devices()[0].device_kind,
                    "preset": args.preset, "adapter_params": num_params, "ae_length": length,
                    "ae_channels": list(ae_cfg.channels), "ae_batch": x.shape[0],
                    "ae_steps_per_s": round(ae_rate, 2), "latent_dim": dim,
                    "diffusion_batch": batch_size, "condition": g.condition,
                    "diffusion_steps_per_s": round(den_rate, 2)}))


if __name__ == "__main__":
  main()
