"""`lax.scan` against `lax.associative_scan` for the selective SSM (forward and gradient).

  python bench/selective_scan.py [--lengths 256 1024 4096] [--batch 4] [--dim 64] [--state 16]

Times one jitted call after compilation (median of 5) for both modes of
`paramgen_jax.nn.ssm.selective_scan`, batched with vmap, and reports their largest
relative difference. Prints one JSON line per length.
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

from paramgen_jax.nn.ssm import selective_scan  # noqa: E402


def timed(fn, *args, repeats=5):
  start = time.perf_counter()
  jax.block_until_ready(fn(*args))
  compile_s = time.perf_counter() - start
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - start)
  return compile_s, float(np.median(times))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--lengths", type=int, nargs="+", default=[256, 1024, 4096])
  parser.add_argument("--batch", type=int, default=4)
  parser.add_argument("--dim", type=int, default=64)
  parser.add_argument("--state", type=int, default=16)
  args = parser.parse_args()
  for length in args.lengths:
    k = jax.random.split(jax.random.key(0), 6)
    b, d, n = args.batch, args.dim, args.state
    inputs = (jax.random.normal(k[0], (b, length, d)),
              jax.nn.softplus(jax.random.normal(k[1], (b, length, d))) * 0.1,
              -jnp.exp(jax.random.normal(k[2], (d, n))),
              jax.random.normal(k[3], (b, length, n)), jax.random.normal(k[4], (b, length, n)),
              jnp.ones((d,)))
    row = {"bench": "selective_scan", "device": jax.devices()[0].device_kind, "length": length,
           "batch": b, "dim": d, "state": n}
    outputs = {}
    for mode in ("scan", "associative"):
      fwd = jax.jit(jax.vmap(lambda u, dt, A, B, C, D, m=mode: selective_scan(
          u, dt, A, B, C, D, mode=m), in_axes=(0, 0, None, 0, 0, None)))
      grad = jax.jit(jax.grad(lambda *a, f=fwd: jnp.sum(jnp.sin(f(*a))), argnums=(0, 1, 2)))
      compile_fwd, t_fwd = timed(fwd, *inputs)
      compile_grad, t_grad = timed(grad, *inputs)
      outputs[mode] = np.asarray(fwd(*inputs))
      row[mode] = {"fwd_ms": round(1e3 * t_fwd, 3), "grad_ms": round(1e3 * t_grad, 3),
                   "compile_fwd_s": round(compile_fwd, 2), "compile_grad_s": round(compile_grad, 2)}
    row["max_rel_diff"] = float(np.abs(outputs["scan"] - outputs["associative"]).max()
                                / np.abs(outputs["scan"]).max())
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  main()
