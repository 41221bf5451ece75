"""One jitted DDIM sampling run (lax.scan) against the same steps driven from Python.

  python bench/ddim_sampling.py [--steps 60] [--batch 256] [--dim 64] [--repeats 5]

Both paths call the same `ddim_step` with the same small MLP denoiser and the same keys,
and must produce the same samples (up to float rounding); the Python loop dispatches one jitted step per
iteration. Prints a JSON line with median wall times (after compilation) and the speed-up.
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

from paramgen_jax import diffusion as D  # noqa: E402
from paramgen_jax.nn import MLPDenoiser  # noqa: E402


def median_time(fn, repeats):
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return float(np.median(times))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--steps", type=int, default=60)
  parser.add_argument("--batch", type=int, default=256)
  parser.add_argument("--dim", type=int, default=64)
  parser.add_argument("--hidden", type=int, default=128)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()

  schedule = D.get_schedule("linear", 1000)
  model = MLPDenoiser(hidden=args.hidden, depth=3)
  params = model.init(jax.random.key(0), jnp.zeros((1, args.dim)), jnp.zeros((1,), jnp.int32))
  denoise = lambda x, t, c: model.apply(params, x, t, c)
  shape, key = (args.batch, args.dim), jax.random.key(1)

  scan_sampler = jax.jit(lambda k: D.ddim_sample(denoise, schedule, shape, k, steps=args.steps))
  step = jax.jit(lambda x, t, t_prev, k: D.ddim_step(denoise, schedule, x, t, t_prev, k))

  def python_loop():
    init_key, steps_key = jax.random.split(key)
    x = jax.random.normal(init_key, shape, jnp.float32)
    times = D.ddim_timesteps(schedule.num_timesteps, args.steps)[::-1]
    prev = np.concatenate([times[1:], [-1]])
    for i, (t, t_prev) in enumerate(zip(times, prev)):
      x = step(x, jnp.full((args.batch,), t, jnp.int32), jnp.full((args.batch,), t_prev, jnp.int32),
               jax.random.fold_in(steps_key, i))
    return x

  start = time.perf_counter()
  scanned = jax.block_until_ready(scan_sampler(key))
  compile_scan = time.perf_counter() - start
  start = time.perf_counter()
  looped = jax.block_until_ready(python_loop())
  compile_loop = time.perf_counter() - start
  # Relative to the sample scale: GPUs run float32 matmuls in TF32 by default, and the
  # two programs fuse differently, so only the CPU is expected to agree bit for bit.
  max_diff = float(jnp.max(jnp.abs(scanned - looped)) / jnp.max(jnp.abs(looped)))
  t_scan = median_time(lambda: scan_sampler(key), args.repeats)
  t_loop = median_time(python_loop, args.repeats)
  print(json.dumps({
      "bench": "ddim_sampling", "device": jax.devices()[0].device_kind,
      "backend": jax.default_backend(), "steps": args.steps, "batch": args.batch,
      "dim": args.dim, "hidden": args.hidden,
      "scan_ms": round(1e3 * t_scan, 2), "python_loop_ms": round(1e3 * t_loop, 2),
      "speedup": round(t_loop / t_scan, 2), "per_step_scan_ms": round(1e3 * t_scan / args.steps, 3),
      "first_call_s": {"scan": round(compile_scan, 2), "python_loop": round(compile_loop, 2)},
      "max_rel_diff": max_diff}))


if __name__ == "__main__":
  main()
