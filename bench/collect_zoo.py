"""Zoo collection: train the digits MLP and save its 200 checkpoints (configs/pdiff_digits.py).

  python bench/collect_zoo.py [--config pdiff_digits] [--rounds 7]

The timed section is `zoo.collect.train_unit` for the config's one task and seed: the main
epochs, then the final pass at the saving learning rate with a checkpoint after each of its
steps, the checkpoints ending up on the host as numpy arrays (as the official code's timed
section ends with its checkpoints saved). The first call traces and compiles (`first_call_s`,
what one collection in a fresh process costs); later calls reuse the compiled passes, as a
zoo's later units do (`median_s`, median of `--rounds`).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402

from bench import stepbench  # noqa: E402
from paramgen_jax import data  # noqa: E402
from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax.zoo.collect import train_unit  # noqa: E402
from paramgen_jax.zoo.models import make_target  # noqa: E402
from paramgen_jax.zoo.tasks import full_task  # noqa: E402


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--config", default="pdiff_digits")
  parser.add_argument("--rounds", type=int, default=7)
  args = parser.parse_args()
  config = load_config(args.config)
  dataset, task = data.load_digits(), full_task()
  target = make_target(config.model.name, task.num_outputs, **dict(config.model.options))
  holder = {}

  def run_once():
    stacked, steps = train_unit(target, dataset, [task], [0], 0, config.collect, progress=False)
    holder["count"], holder["steps"] = len(jax.tree_util.tree_leaves(stacked)[0]), int(steps[-1])

  start = time.perf_counter()
  run_once()  # traces and compiles (cached for the process, as for a zoo's next unit)
  first = time.perf_counter() - start
  timing = stepbench.time_rounds(run_once, rounds=args.rounds, per_round=1, warmup=0)
  stepbench.emit(dict(bench="collect_zoo", config=args.config, model=config.model.name,
                      checkpoints=holder["count"], optimizer_steps=holder["steps"],
                      first_call_s=round(first, 3), median_s=round(timing["median_ms"] / 1e3, 3),
                      **{k: v for k, v in timing.items() if k != "median_ms"}), None)


if __name__ == "__main__":
  main()
