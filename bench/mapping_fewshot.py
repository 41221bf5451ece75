"""Generated models against training on k examples per class (the paper's Fig. 10), on the
unseen binary tasks of a finished data-conditioned mapping run.

  python bench/mapping_fewshot.py --run runs/mapping_unseen_binary [--shots 1 2 4 8 16 32 64] \
      [--seeds 3] [--steps 200] [--out bench/results/mapping_fewshot_cpu2.json]

For every unseen task, k ∈ --shots and seed: k training images of each of the task's two
classes (drawn with the seed), a classifier of the zoo's architecture trained on them with
full-batch AdamW (lr 3e-3, the zoo's rate; --steps steps) from (a) a fresh random
initialization ('scratch') and (b) the zoo's shared initialization ('shared init'), scored on
the task's test split. The mapping's generated model (no example, no gradient step) and the
zoo's originals (the full training split, 40 epochs) come from the run's report.json.
Writes the JSON and a plot beside it (.png).
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from paramgen_jax.configlib import load_config  # noqa: E402
from paramgen_jax.zoo import spec  # noqa: E402


def few_shot_sets(labels: np.ndarray, shots: int, seed: int) -> np.ndarray:
  """(2·shots,) indices: `shots` examples of task label 0, then of label 1."""
  rng = np.random.default_rng(seed)
  return np.concatenate([rng.choice(np.flatnonzero(labels == c), shots, replace=False)
                         for c in (0, 1)])


def train_many(target, variables, x, y, steps: int, lr: float):
  """Every model of `variables` (M, ...) after `steps` full-batch AdamW steps on its own
  (x (M, n, ...), y (M, n))."""
  tx = optax.adamw(lr, weight_decay=0.01)

  def one(v, x, y):
    def loss(p):
      logits = target.apply({"params": p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def step(carry, _):
      p, opt = carry
      updates, opt = tx.update(jax.grad(loss)(p), opt, p)
      return (optax.apply_updates(p, updates), opt), None

    (p, _), _ = jax.lax.scan(step, (v["params"], tx.init(v["params"])), None, length=steps)
    return {"params": p}
  return jax.jit(jax.vmap(one))(variables, x, y)


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--run", default="runs/mapping_unseen_binary")
  ap.add_argument("--preset", default=None, help="the run's config preset")
  ap.add_argument("--shots", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32, 64])
  ap.add_argument("--seeds", type=int, default=3)
  ap.add_argument("--steps", type=int, default=200)
  ap.add_argument("--out", default="bench/results/mapping_fewshot_cpu2.json")
  args = ap.parse_args()
  config = load_config(f"mapping_unseen_binary:{args.preset or ''}")
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), args.run)
  report = json.load(open(os.path.join(args.run, "report.json")))
  rows = {r["task"]: r for r in report["unseen"] if r["generated"]}
  tasks = [inputs.by_name[n] for n in rows]
  x_train, y_train = inputs.dataset.split("train")
  x_test, y_test = inputs.dataset.split("test")
  image = (1,) + inputs.dataset.image_shape
  shared = inputs.target.init(jax.random.fold_in(jax.random.key(config.collect.seeds[0]), 0),
                              jnp.zeros(image))
  test_labels = np.stack([t.relabel(y_test)[0] for t in tasks])          # (T, n_test)
  curves = {"scratch": {}, "shared init": {}}
  for shots in args.shots:
    pairs = [(t, s) for t in range(len(tasks)) for s in range(args.seeds)]
    labels = [tasks[t].relabel(y_train)[0] for t, _ in pairs]
    idx = np.stack([few_shot_sets(labels[i], shots, 1000 * s + shots)
                    for i, (_, s) in enumerate(pairs)])
    x = x_train[idx]
    y = np.stack([labels[i][row] for i, row in enumerate(idx)])
    keys = jax.random.split(jax.random.key(shots), len(pairs))
    inits = {"scratch": jax.vmap(lambda k: inputs.target.init(k, jnp.zeros(image)))(keys),
             "shared init": jax.tree_util.tree_map(
                 lambda a: jnp.broadcast_to(a, (len(pairs),) + a.shape), shared)}
    for name, init in inits.items():
      trained = train_many(inputs.target, init, x, y, args.steps, 3e-3)
      logits = jax.vmap(lambda v: inputs.target.apply(v, x_test))(trained)
      correct = np.asarray(jnp.argmax(logits, -1)) == test_labels[[t for t, _ in pairs]]
      per_task = 100 * correct.mean(1).reshape(len(tasks), args.seeds).mean(1)
      curves[name][shots] = float(per_task.mean())
      print(json.dumps({"shots": shots, "init": name, "accuracy": curves[name][shots]}),
            flush=True)
  result = {"run": args.run, "steps": args.steps, "seeds": args.seeds, "tasks": len(tasks),
            "generated": float(np.mean([r["generated"]["mean"] for r in rows.values()])),
            "original": float(np.mean([r["original"]["mean"] for r in rows.values()])),
            "trained": curves}
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
  plot(result, args.out[:-5] + ".png")
  print(json.dumps({k: result[k] for k in ("generated", "original")}))


def plot(result: dict, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3.5))
  for name, curve in result["trained"].items():
    shots = sorted(int(k) for k in curve)
    ax.plot(shots, [curve[k] for k in shots], marker="o", label=f"trained on k/class ({name})")
  ax.axhline(result["generated"], color="C3", label="generated (no example)")
  ax.axhline(result["original"], color="k", ls="--", label="originals (all data)")
  ax.set_xscale("log", base=2)
  ax.set_xlabel("training examples per class")
  ax.set_ylabel("test accuracy (%), mean of unseen tasks")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)


if __name__ == "__main__":
  main()
