"""What COND P-DIFF's denoiser adds on unseen tasks: each generated adapter rebuilt as the
centre of its statistics plus a scaled share of its generated deviation, scored on test.

  python bench/pdiff_unseen_spread.py --workdir runs/cond_pdiff_lora \
      [--out bench/results/cond_pdiff_spread_cpu2.jsonl]

--workdir: a finished run of configs/cond_pdiff_lora.py (any preset with a describing
condition). A generated adapter is mean + std · z, with (mean, std) the statistics its task is
denormalized with (`core.model_stats`: regressed or borrowed for an unseen task) and z the
denoiser's output; here z is scaled by s ∈ {0, 0.5, 1}: s = 1 is the generated adapter itself,
s = 0 the centre alone (no denoiser). Appends one JSON line: the run's workdir name, its zoo's
`tasks.limit` ('tasks') and `generator.unseen_stats`, and per split and s the mean over
tasks of each task's mean test accuracy, with the RMS of z (how far from the centre, in the
task's standard deviations, the denoiser puts an adapter).
"""

import json
import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import ml_collections  # noqa: E402
import numpy as np  # noqa: E402

from paramgen_jax import runfiles  # noqa: E402
from preset_sweep import emit, head_commit, workdir_and_out  # noqa: E402  (bench/)
from paramgen_jax.artifact import with_run_sections  # noqa: E402
from paramgen_jax.eval.protocol import split_accuracy  # noqa: E402
from paramgen_jax.methods.pdiff import core, stages  # noqa: E402
from paramgen_jax.zoo import spec  # noqa: E402

SCALES = (0.0, 0.5, 1.0)


def task_spread(generator, layout, models, condition) -> tuple[jax.Array, jax.Array, jax.Array]:
  """(mean, std (1, P), z (M, P)) of one task's M generated adapters."""
  mean, std = core.model_stats(generator, jnp.asarray(np.asarray(condition)[None], jnp.float32))
  vectors = jax.vmap(layout.to_vector)(models)
  return mean, std, (vectors - mean) / std


def measure(workdir: str, config: ml_collections.ConfigDict) -> dict:
  generator = with_run_sections(core.load(runfiles.generator_dir(workdir)), config)
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  conditions = stages.task_conditions(config, workdir, inputs, stages.seen_names(workdir))
  split_of = spec.manifest_splits(workdir)
  layout = generator.codec.layout
  found = {split: {"accuracy": {str(s): [] for s in SCALES}, "z_rms": []}
           for split in ("seen", "unseen")}
  for name, models in runfiles.load_generated(workdir).items():
    mean, std, z = task_spread(generator, layout, models, conditions[name])
    split = found[split_of[name]]
    split["z_rms"].append(float(jnp.sqrt(jnp.mean(z ** 2))))
    for s in SCALES:
      rebuilt = jax.vmap(layout.from_vector)((mean + s * std * z).astype(jnp.float32))
      accuracy = split_accuracy(inputs.target.apply, rebuilt, inputs.dataset,
                                inputs.by_name[name], "test")
      split["accuracy"][str(s)].append(float(np.mean(accuracy)))
  return {split: {"tasks": len(v["z_rms"]),
                  "accuracy": {s: round(float(np.mean(a)), 3) for s, a in v["accuracy"].items()},
                  "z_rms": round(float(np.mean(v["z_rms"])), 3)}
          for split, v in found.items() if v["z_rms"]}


def main():
  workdir, out = workdir_and_out(__doc__)
  config = ml_collections.ConfigDict(json.load(open(os.path.join(workdir, runfiles.CONFIG))))
  row = {"bench": "pdiff_unseen_spread", "workdir": os.path.basename(os.path.normpath(
      workdir)), "tasks": config.tasks.limit, "unseen_stats": config.generator.unseen_stats,
         "commit": head_commit(), **measure(workdir, config)}
  emit(row, out)


if __name__ == "__main__":
  main()
