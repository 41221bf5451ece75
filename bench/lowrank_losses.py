"""Cost of LoRAGen's adapter-level losses through r×r forms against forming ΔW, as d grows.

  python bench/lowrank_losses.py [--dims 64 128 256 512 1024] [--rank 8] [--batch 4]
      [--out bench/results/lowrank_losses_cpu2.jsonl]

For a batch of (A, B) pairs (d×r, r×d), times value and gradient of direction + spectral loss
(a) with `params.lowrank` (inner products of r×r Gram matrices, QR of the factors and an SVD
of the r×r core) and (b) by forming ΔW = A B and taking its Frobenius cosine and
`jnp.linalg.svd`. Both must agree; prints and appends one JSON line per d with median ms,
the speed-up and XLA's temporary bytes for each.
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
from paramgen_jax.params import lowrank  # noqa: E402


def factored(a_hat, b_hat, a, b):
  one = lambda *x: lowrank.direction_loss(*x) + 2.0 * lowrank.spectral_loss(*x, rho=0.85)
  return jnp.mean(jax.vmap(one)(a_hat, b_hat, a, b))


def explicit(a_hat, b_hat, a, b):
  def one(ah, bh, a1, b1):
    w_hat, w = ah @ bh, a1 @ b1
    cos = jnp.sum(w_hat * w) / (jnp.linalg.norm(w_hat) * jnp.linalg.norm(w))
    r = a1.shape[1]
    s_hat = jnp.linalg.svd(w_hat, compute_uv=False)[:r]
    s = jax.lax.stop_gradient(jnp.linalg.svd(w, compute_uv=False)[:r])
    keep = lowrank.energy_rank_mask(s, 0.85)
    weights = jnp.where(keep, s, 0.0) / jnp.sum(jnp.where(keep, s, 0.0))
    return 1.0 - cos + 2.0 * jnp.sum(weights * jnp.abs(s_hat - s))
  return jnp.mean(jax.vmap(one)(a_hat, b_hat, a, b))


def measure(fn, args, rounds):
  grad = jax.jit(jax.value_and_grad(fn, argnums=(0, 1)))
  temp = grad.lower(*args).compile().memory_analysis().temp_size_in_bytes
  value = float(grad(*args)[0])
  timing = time_rounds(lambda: jax.block_until_ready(grad(*args)), rounds=rounds, per_round=2,
                       warmup=1)
  return value, timing["median_ms"], int(temp)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--dims", type=int, nargs="+", default=[64, 128, 256, 512, 1024])
  parser.add_argument("--rank", type=int, default=8)
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--rounds", type=int, default=3)
  parser.add_argument("--out", default="")
  args = parser.parse_args()
  for d in args.dims:
    keys = jax.random.split(jax.random.key(d), 4)
    shapes = [(args.batch, d, args.rank), (args.batch, args.rank, d)] * 2
    inputs = [jax.random.normal(k, s) / np.sqrt(d) for k, s in zip(keys, shapes)]
    v_f, ms_f, temp_f = measure(factored, inputs, args.rounds)
    v_e, ms_e, temp_e = measure(explicit, inputs, args.rounds)
    row = {"bench": "lowrank_losses", "d": d, "rank": args.rank, "batch": args.batch,
           "factored_ms": ms_f, "explicit_ms": ms_e, "speedup": round(ms_e / ms_f, 1),
           "factored_temp_bytes": temp_f, "explicit_temp_bytes": temp_e,
           "loss_factored": round(v_f, 6), "loss_explicit": round(v_e, 6),
           "device": jax.devices()[0].device_kind}
    print(json.dumps(row), flush=True)
    if abs(v_f - v_e) > 1e-3 * max(1.0, abs(v_e)):
      sys.exit(f"the two losses disagree at d={d}: {v_f} vs {v_e}")
    if args.out:
      with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  main()
