"""LoRAGen's generation latency: encode / diffuse / decode against locations and rank.

  python bench/loragen_latency.py [--locations 8 24 48 96] [--ranks 2 8 16 32] [--dim 64]
      [--out bench/results/loragen_latency_cpu2.jsonl]

The paper's Tables 12-13 on our networks: configs/loragen_lora.py's default VAE and DiT
(latent 64, 4 experts top-1, DiT width 64 × 4 layers, DDIM `sample.steps`), adapters of
`locations` / 2 layers × (query, value) LoRA of a dim × dim projection plus a 2-way head, at
initialization (latency does not depend on the weights). Times one adapter end to end: the VAE
encoder (only needed to make training latents), the DiT's sampling loop, the MoE decoder.
Prints and appends one JSON line per setting (median ms after compilation).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench.stepbench import time_rounds  # noqa: E402
from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax import artifact  # noqa: E402
from paramgen_jax.methods.loragen import core  # noqa: E402
from paramgen_jax.methods.loragen.locations import LocationPlan  # noqa: E402
from paramgen_jax.methods.loragen.model import LoRAVAE  # noqa: E402


def adapter(layers: int, dim: int, rank: int) -> dict:
  tree = {f"EncoderBlock_{i}": {m: {"lora_a": np.zeros((dim, rank), np.float32),
                                    "lora_b": np.zeros((rank, dim), np.float32)}
                                for m in ("query", "value")} for i in range(layers)}
  tree["Dense_0"] = {"kernel": np.zeros((dim, 2), np.float32), "bias": np.zeros(2, np.float32)}
  return {"params": tree}


def measure(config, locations: int, dim: int, rank: int, rounds: int) -> dict:
  plan = LocationPlan.from_template(adapter(locations // 2, dim, rank))
  vae = core.vae_model(config, plan)
  x = {m.name: jnp.ones((1, len(m.layers), m.size)) for m in plan.modules}
  vae_params = vae.init(jax.random.key(0), x, jax.random.key(1), 1.5)
  n, d_z = plan.num_locations, config.vae.latent_dim
  dit_params = core._dit_init(config, plan, 384)(jax.random.key(2))
  norm = core.Normalizer({m.name: jnp.ones(m.size) for m in plan.modules},
                         jnp.zeros((n, d_z)), jnp.ones((n, d_z)), jnp.zeros(384), jnp.float32(1))
  g = core.Generator(vae_params, dit_params, norm, plan, artifact.frozen(config))
  encode = jax.jit(lambda p, xs: vae.apply(p, xs, method=LoRAVAE.encode)[0])
  diffuse, decode = jax.jit(core.sample_latents), jax.jit(core.decode)
  condition = jnp.ones((1, 384))  # one adapter's
  z = diffuse(g, jax.random.key(3), condition)
  row = {"bench": "loragen_latency", "locations": n, "rank": rank, "dim": dim,
         "ddim_steps": config.sample.steps, "device": jax.devices()[0].device_kind}
  for name, fn in (("encode", lambda: encode(vae_params, x)),
                   ("diffuse", lambda: diffuse(g, jax.random.key(4), condition)),
                   ("decode", lambda: decode(g, z))):
    row[f"{name}_ms"] = time_rounds(lambda: jax.block_until_ready(fn()), rounds=rounds,
                                    per_round=3, warmup=1)["median_ms"]
  row["total_ms"] = round(row["diffuse_ms"] + row["decode_ms"], 2)  # generation needs no encoder
  return row


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--locations", type=int, nargs="+", default=[8, 24, 48, 96])
  parser.add_argument("--ranks", type=int, nargs="+", default=[2, 8, 16, 32])
  parser.add_argument("--dim", type=int, default=64)
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  config = load_config("loragen_lora")
  settings = [(n, 2) for n in args.locations] + [(args.locations[-1], r) for r in args.ranks
                                                  if r != 2]
  for n, r in settings:
    row = measure(config, n, args.dim, r, args.rounds)
    print(json.dumps(row), flush=True)
    if args.out:
      with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
