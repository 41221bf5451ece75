"""One model for one unseen binary task: the data-conditioned mapping's forward pass against
RPG's DDIM-60 generation, side by side in one process (the paper's Table 4).

  python bench/mapping_vs_rpg.py --mapping runs/mapping_unseen_binary \
      --rpg runs/rpg_unseen_binary [--repeats 20] [--out bench/results/mapping_vs_rpg.json]

Both generators are the ones the train stages saved in those workdirs (<workdir>/generator,
loaded with each method's `load`; the main runs (docs/methods/mapping.md) of configs/mapping_unseen_binary.py
and configs/rpg_unseen_binary.py; --rpg-preset names the RPG run's preset, whose zoo gives
the task), conditioned on the first unseen task's 10-bit code (conditions (1, 10)); each
protocol `generate` of one model is compiled first, then timed as the median of `--repeats`
calls with the parameters fetched to the host. Memory: XLA's buffer plan of each
compiled generation (arguments + outputs + temporaries). Also gathers, from the two runs'
report.json and timing.json, the per-task unseen accuracies (originals, RPG's mean of its 10
models, the mapping's model), training steps and seconds, and generator parameters.
Prints the timings and a markdown table of both.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax import runfiles  # noqa: E402
from paramgen_jax.methods import mapping, rpg  # noqa: E402
from paramgen_jax.train.recipe import count_params  # noqa: E402
from paramgen_jax.zoo import conditions, spec  # noqa: E402
import tables  # noqa: E402  (bench/tables.py: run as a script, bench/ is on the path)


def measure(name, method, generator, condition, repeats):
  """One model's `method.generate` (conditions (1, F)): compiled, then timed."""
  one = lambda g, c, k: method.generate(g, k, c, 1)
  row = {"generator": name,
         **runfiles.compiled_cost(one, (generator, condition, jax.random.key(0)), repeats)}
  print(json.dumps({k: v for k, v in row.items() if k != "times"}), flush=True)
  return row


def per_task(mapping_dir: str, rpg_dir: str) -> list[dict]:
  """Unseen tasks: original mean, RPG's generated mean, the mapping's generated accuracy."""
  load = lambda d: {r["task"]: r for r in json.load(open(os.path.join(d, "report.json")))[
      "unseen"] if r["generated"]}
  mapped, sampled = load(mapping_dir), load(rpg_dir)
  return [{"task": t, "original": sampled[t]["original"]["mean"],
           "rpg": sampled[t]["generated"]["mean"], "mapping": mapped[t]["generated"]["mean"]}
          for t in sampled if t in mapped]


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--mapping", default="runs/mapping_unseen_binary")
  ap.add_argument("--rpg", default="runs/rpg_unseen_binary")
  ap.add_argument("--rpg-preset", default=None, help="the RPG run's config preset")
  ap.add_argument("--repeats", type=int, default=20)
  ap.add_argument("--out", default="")
  args = ap.parse_args()
  inputs = spec.build_zoo_inputs(
      spec.zoo_sections(load_config(f"rpg_unseen_binary:{args.rpg_preset or ''}")), args.rpg)
  task = next(n for n, s in spec.manifest_splits(args.rpg).items() if s == "unseen")
  bits = np.asarray(conditions.bit_conditions([inputs.by_name[task]]), np.float32)  # (1, 10)
  found = {"mapping": mapping.load(runfiles.generator_dir(args.mapping)),
           "rpg": rpg.load(runfiles.generator_dir(args.rpg))}
  rows = [measure("mapping", mapping, found["mapping"], bits, args.repeats),
          measure(f"rpg_ddim{found['rpg'].config.sample.steps}", rpg, found["rpg"], bits,
                  max(3, args.repeats // 4))]
  timing = lambda d: json.load(open(os.path.join(d, "timing.json")))["train"]
  generators = {name: {"parameters": count_params(g.params),
                       "train_steps": int(g.config.train.steps),
                       "train_s": round(timing(getattr(args, name)))}
                for name, g in found.items()}
  result = {"task": task, "device": jax.devices()[0].device_kind, "rows": rows,
            "speedup": rows[1]["seconds"] / rows[0]["seconds"],
            "memory_ratio": rows[1]["memory_bytes"] / rows[0]["memory_bytes"],
            "generators": generators, "per_task": per_task(args.mapping, args.rpg)}
  print(json.dumps({k: result[k] for k in ("task", "device", "speedup", "memory_ratio")}))
  print(tables.mapping_vs_rpg(result))
  if args.out:
    with open(args.out, "w") as f:
      json.dump(result, f, indent=1)


if __name__ == "__main__":
  main()
