"""Scaling: time and peak memory of generating one model against its parameter count.

  python bench/scaling.py [--params 16384 65536 ...] [--methods rpg pdiff d2nwg mapping loragen]
                          [--budget-gb 4] [--point-seconds 30] [--method-seconds 150]
                          [--out bench/results/scaling_cpu2.jsonl] [--append]
  XLA_FLAGS=--xla_force_host_platform_device_count=8 python bench/scaling.py --devices 8
  python bench/scaling.py --quick        # smoke presets, one size, one call each (the test)

For each method its default config's generator is built for a synthetic target of each size,
with random weights of σ 0.02 (`random_like`; generators are not trained: time and memory do
not depend on the values). Targets: a stack of (width, width) dense layers and biases
(`bench.rpg_generation.dense_stack`), cut into RPG's tokens, flattened for p-diff and D2NWG,
arranged as the mapping's layer volume; LoRAGen generates LoRA adapters, so its target is one
(query and value adapters (d, r) + (r, d) of as many blocks as the size needs, and a head):
its VAE decoder and DiT keep their size and the DiT's sequence (one latent per location) grows.

Per (method, size): compile `generate one model` (the method's own function) on abstract
arguments, read XLA's memory plan (arguments + outputs + temporaries); only if it fits
`--budget-gb` are the arguments made and the executable run (median of `--repeats` calls, the
model fetched to the host). A method stops growing at the first size over the budget, or when
its last one-model time scaled linearly to the next size exceeds `--point-seconds`, or when
its time so far plus the next size's (the last compile and `--repeats` calls, scaled) would
pass `--method-seconds` (or its even share of `--total-seconds`); the row that stops it says
why.

`--devices N` adds 'rpg_tokens_xN': RPG with the token axis split over the first N devices
(`methods.rpg.token_parallel`), and its largest difference from the one-device model. On a CPU
the N devices are simulated (XLA_FLAGS above) and share its cores: correctness, not speed.

Writes one JSON row per point to --out (`--append`: adds to it) and a log-log figure (time
and memory against parameters, one line per method, every row of --out) next to it (.png);
`--methods --append` runs nothing and redraws the figure.
"""

import argparse
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from bench import scaling_targets as T  # noqa: E402
from paramgen_jax import memory  # noqa: E402

SIZES = (16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216, 67_108_864, 268_435_456)


def random_like(abstract, seed: int):
  """Arrays of `abstract`'s shapes on the default device: float leaves σ 0.02 (NumPy normals;
  a leaf over 2**22 entries: a hashed uniform pattern made on the device, as drawing it on
  the host would take longer than generating), the others zeros."""
  rng = np.random.default_rng(seed)

  def one(i, s):
    if not np.issubdtype(s.dtype, np.floating):
      return jax.device_put(np.zeros(s.shape, s.dtype))
    if np.prod(s.shape) <= 2**22:
      return jax.device_put((0.02 * rng.standard_normal(s.shape, np.float32)).astype(s.dtype))
    return _hashed(s.shape, s.dtype, np.uint32(i))
  leaves, tree = jax.tree_util.tree_flatten(abstract)
  return tree.unflatten([one(i, s) for i, s in enumerate(leaves)])


@functools.partial(jax.jit, static_argnums=(0, 1))
def _hashed(shape: tuple, dtype, salt: jax.Array) -> jax.Array:
  """Uniform on ±0.02·√3 (σ 0.02) from a multiplicative hash of the index."""
  x = jnp.arange(int(np.prod(shape)), dtype=jnp.uint32) * jnp.uint32(2654435761) + salt
  u = (x >> 8).astype(jnp.float32) / 2**24
  return (0.02 * np.sqrt(12.0) * (u - 0.5)).astype(dtype).reshape(shape)


def run_calls(executable, args, repeats: int, limit_s: float) -> tuple[list[float], object]:
  """Seconds of up to `repeats` calls (fewer once they add up to `limit_s`), and the last
  output, fetched to the host."""
  times, out = [], None
  while len(times) < repeats and sum(times) < limit_s:
    start = time.perf_counter()
    out = jax.device_get(executable(*args))
    times.append(time.perf_counter() - start)
  return times, out


def max_difference(a, b) -> float:
  return float(max(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64)))
                   for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b))))


def measure(point: T.Point, args: argparse.Namespace, seed: int = 0) -> tuple[dict, object]:
  """One row: plan first; run only within the budget. Returns (row, the generated model)."""
  row = {"bench": "scaling", "method": point.method, "num_params": point.num_params,
         "generator_params": point.generator_params, "device": jax.devices()[0].device_kind,
         "devices": point.devices, **point.info}
  start = time.perf_counter()
  executable = jax.jit(point.fn).lower(point.big, *point.small).compile()
  row["compile_s"] = round(time.perf_counter() - start, 3)
  plan = memory.memory_of(executable)
  row["peak_bytes"] = plan["argument"] + plan["output"] + plan["temp"]
  row["memory_plan"] = plan
  if row["peak_bytes"] > args.budget_gb * 2**30:
    return dict(row, status=f"stop: plan over the {args.budget_gb} GiB budget, not run"), None
  big = random_like(point.big, seed)
  times, out = run_calls(executable, (big, *point.small), args.repeats, args.point_seconds)
  row.update(status="ok", seconds=round(float(np.median(times)), 5),
             times=[round(t, 5) for t in times])
  return row, out


def sweep(method: str, args: argparse.Namespace, write, method_seconds: float) -> None:
  """Rows of one method over the sizes, until a stop condition (module docstring)."""
  started = time.perf_counter()
  for i, size in enumerate(args.params):
    point = T.build(method, size, preset=args.preset, devices=args.devices,
                    width=args.width)
    if point is None:
      write({"bench": "scaling", "method": method, "num_params": size,
             "status": f"not built: {T.CANNOT.get(method, 'unknown method')}"})
      return
    row, out = measure(point, args)
    if point.devices > 1 and out is not None:  # the same model on one device
      single, ref = measure(T.build(method, size, preset=args.preset, devices=1,
                                    width=args.width), args)
      row["max_abs_diff_vs_1_device"] = None if ref is None else max_difference(out, ref)
      row["one_device_seconds"] = single.get("seconds")
    nxt = args.params[i + 1] if i + 1 < len(args.params) else None
    elapsed = time.perf_counter() - started
    if row["status"] == "ok" and nxt is not None:
      predicted = row["seconds"] * nxt / row["num_params"]
      if predicted > args.point_seconds:
        row["status"] = f"ok; stop: the next size would take ~{predicted:.0f} s"
      # Compile time grows with the target's layers (the codecs decode every leaf).
      elif elapsed + (row["compile_s"] + args.repeats * row["seconds"]) * nxt / size \
          > method_seconds:
        row["status"] = (f"ok; stop: {elapsed:.0f} s spent on this method, the next size "
                         f"would pass {max(method_seconds, 0):.0f} s")
    write(row)
    if row["status"] != "ok":
      return


def figure(rows: list[dict], path: str) -> None:
  try:
    import matplotlib
  except ImportError:
    print(f"matplotlib is not installed: no figure ({path})", file=sys.stderr)
    return
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
  done = [r for r in rows if "seconds" in r]
  for method in dict.fromkeys(r["method"] for r in done):
    mine = sorted((r for r in done if r["method"] == method), key=lambda r: r["num_params"])
    n = [r["num_params"] for r in mine]
    axes[0].plot(n, [r["seconds"] for r in mine], "o-", label=method)
    axes[1].plot(n, [r["peak_bytes"] / 2**20 for r in mine], "o-", label=method)
  for ax, label in zip(axes, ("one model (s)", "peak memory, XLA plan (MiB)")):
    ax.set(xscale="log", yscale="log", xlabel="parameters of the generated model", ylabel=label)
    ax.grid(True, which="both", alpha=0.3)
  if done:
    axes[0].legend(fontsize=8)
  device = rows[0].get("device", "") if rows else ""
  fig.suptitle(f"Generation of one model against its size ({device}; untrained generators)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)


def parse(argv=None) -> argparse.Namespace:
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--params", type=int, nargs="+", default=list(SIZES))
  ap.add_argument("--methods", nargs="*", default=list(T.METHODS),
                  help="methods to run (none: only the token-parallel RPG of --devices)")
  ap.add_argument("--width", type=int, default=T.WIDTH,
                  help="width of the target's dense layers (wider: fewer layers per size)")
  ap.add_argument("--preset", default=None, help="config preset of every method (default)")
  ap.add_argument("--budget-gb", type=float, default=4.0, help="XLA plan limit per point")
  ap.add_argument("--point-seconds", type=float, default=30.0)
  ap.add_argument("--method-seconds", type=float, default=150.0)
  ap.add_argument("--total-seconds", type=float, default=float("inf"),
                  help="share this time evenly among the methods (when less than "
                       "--method-seconds each)")
  ap.add_argument("--repeats", type=int, default=3)
  ap.add_argument("--devices", type=int, default=1, help="token-parallel RPG on N devices")
  ap.add_argument("--out", default="bench/results/scaling_cpu2.jsonl")
  ap.add_argument("--append", action="store_true",
                  help="add the rows to --out (the figure shows all of its rows)")
  ap.add_argument("--quick", action="store_true",
                  help="smoke presets, the smallest size, one call per point")
  args = ap.parse_args(argv)
  if args.quick:
    args.preset, args.params, args.repeats = "smoke", [min(args.params)], 1
  if args.devices > jax.device_count():
    ap.error(f"--devices {args.devices}: only {jax.device_count()} devices (on a CPU set "
             f"XLA_FLAGS=--xla_force_host_platform_device_count={args.devices})")
  return args


def main(argv=None) -> list[dict]:
  args = parse(argv)
  rows = []
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  earlier = ([json.loads(line) for line in open(args.out)]
             if args.append and os.path.exists(args.out) else [])
  with open(args.out, "a" if args.append else "w") as f:
    def write(row):
      rows.append(row)
      f.write(json.dumps(row) + "\n")
      f.flush()
      print(json.dumps({k: v for k, v in row.items() if k not in ("times", "memory_plan")}),
            flush=True)
    methods = list(args.methods) + (["rpg_tokens"] if args.devices > 1 else [])
    deadline = time.perf_counter() + args.total_seconds
    for i, method in enumerate(methods):  # each method: an even share of the time left
      share = (deadline - time.perf_counter()) / (len(methods) - i)
      sweep(method, args, write, min(args.method_seconds, share))
  figure(earlier + rows, os.path.splitext(args.out)[0] + ".png")
  return rows


if __name__ == "__main__":
  main()
