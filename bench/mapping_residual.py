"""Residual generation for the mapping: the decoder learns the difference between a task's
weights and a simple baseline's model for its condition, and the generated model is the
baseline's plus the decoder's output.

  python bench/mapping_residual.py --workdir runs/mapping_unseen_binary \
      --base soup --decoder hybrid_conv [--out bench/results/mapping_residual_cpu2.jsonl]

--workdir: a finished default run of configs/mapping_unseen_binary.py (its zoo and its
report.json, whose leave-one-task-out choice of k and λ is reused). --base: 'soup' (the
k-nearest soup), 'ridge' (ridge regression) or 'none' (the weights themselves).
--decoder: 'hybrid_conv' (the paper's) or 'mlp'. The decoder trains in memory with the
run's recipe on every seen checkpoint; each seen task's target is its weights minus the
baseline fitted *without that task* (what an unseen task's baseline is: fitted on tasks
other than itself). One model per unseen task and per one of the first 60 seen tasks;
appends one JSON line: per split the mean accuracy of the generated models, of the
baseline's and of the originals, and the mean per-task generated/original ratio.
"""

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax import configlib, memory  # noqa: E402
from paramgen_jax.eval import fitted  # noqa: E402
from paramgen_jax.eval.entry import ZooView  # noqa: E402
from paramgen_jax.integrity import read_json  # noqa: E402
from paramgen_jax.methods.mapping import core, stages  # noqa: E402
from paramgen_jax.params.regression import Ridge  # noqa: E402
from paramgen_jax.zoo import spec  # noqa: E402
from paramgen_jax.zoo.accuracy import take_sets  # noqa: E402

SEEN_SCORED = 60


def baseline_fns(kind: str, conds: np.ndarray, means: np.ndarray, chosen: dict):
  """(queries (Q, C) -> (Q, num_params) baseline vectors fitted on every seen task,
  () -> (T, num_params): each seen task's baseline fitted without it)."""
  if kind == "soup":
    return (lambda q: fitted.soup_vectors(conds, means, q, chosen["k"]),
            lambda: fitted.soup_vectors(conds, means, conds, chosen["k"], np.arange(len(conds))))
  if kind == "ridge":
    ridge = Ridge.fit(conds, means)
    return (lambda q: ridge.predict(q, chosen["lambda"]),
            lambda: ridge.held_out(chosen["lambda"]))
  return (lambda q: np.zeros((len(q), means.shape[1])), lambda: np.zeros_like(means))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--base", choices=("soup", "ridge", "none"), required=True)
  parser.add_argument("--decoder", choices=("hybrid_conv", "mlp"), required=True)
  parser.add_argument("--out",
                      default=os.path.join(REPO, "bench/results/mapping_residual_cpu2.jsonl"))
  args = parser.parse_args()
  config = configlib.load_config(
      "mapping_unseen_binary" + (":hybrid_conv" if args.decoder == "hybrid_conv" else ""))
  zoo = spec.zoo_sections(config)
  inputs = spec.build_zoo_inputs(zoo, args.workdir)
  rows, stacked = spec.load_checked_zoo(zoo, args.workdir, inputs=inputs)
  view = ZooView(inputs, rows, stacked, memory.budget_bytes(zoo.get("memory")))
  seen, unseen = view.tasks("seen"), view.tasks("unseen")
  by_task = stages.every_task_condition(config, args.workdir, view)
  conds = np.stack([by_task[t] for t in seen]).astype(np.float64)
  layout, means = fitted.task_means(view, seen)
  report = read_json(os.path.join(args.workdir, "report.json"))
  chosen = {"soup": report["task_baselines"][fitted.SOUP]["chosen"],
            "ridge": report["task_baselines"][fitted.RIDGE]["chosen"]}.get(args.base, {})
  base, held_out = baseline_fns(args.base, conds, means, chosen)
  seen_rows = np.asarray([i for i, r in enumerate(rows) if r["split"] == "seen"])
  row_task = np.asarray([seen.index(rows[i]["task"]) for i in seen_rows])
  vectors = np.asarray(jax.vmap(layout.to_vector)(take_sets(stacked, seen_rows)), np.float64)
  residuals = vectors - held_out()[row_task]
  started = time.perf_counter()
  generator = core.train(jax.vmap(layout.from_vector)(residuals.astype(np.float32)), config,
                         conditions=conds[row_task].astype(np.float32))
  train_s = time.perf_counter() - started
  line = {"bench": "mapping_residual", "base": args.base, "decoder": args.decoder,
          "chosen": chosen, "train_steps": int(config.train.steps), "train_s": round(train_s, 1)}
  for split, tasks in (("unseen", unseen), ("seen", seen[:SEEN_SCORED])):
    queries = np.stack([by_task[t] for t in tasks]).astype(np.float64)
    delta = core.generate(generator, jax.random.key(0), queries.astype(np.float32), len(tasks))
    delta = np.asarray(jax.vmap(layout.to_vector)(delta), np.float64)
    made = {name: jax.vmap(layout.from_vector)(v.astype(np.float32))
            for name, v in (("generated", base(queries) + delta), ("baseline", base(queries)))}
    scores = {name: np.asarray([float(view.score(take_sets(m, [j]), t)[0])
                                for j, t in enumerate(tasks)]) for name, m in made.items()}
    original = np.asarray([float(view.score(take_sets(stacked, view.members(t)), t).mean())
                           for t in tasks])
    line[split] = {"tasks": len(tasks), "generated": round(float(scores["generated"].mean()), 2),
                   "baseline": round(float(scores["baseline"].mean()), 2),
                   "original": round(float(original.mean()), 2),
                   "ratio": round(float((scores["generated"] / original).mean()), 4)}
  print(json.dumps(line))
  with open(args.out, "a") as f:
    f.write(json.dumps(line) + "\n")


if __name__ == "__main__":
  main()
