"""p-diff and COND P-DIFF: a parameter autoencoder and (conditional) latent diffusion.

  collect -> zoo/ (and base/ for LoRA zoos)   the zoo of the config's zoo sections
  train   -> codec/        the parameter codec (layout, padding, per-task statistics) fitted
                           on the training checkpoints
             autoencoder/  1-D conv autoencoder on normalized parameter vectors (p-diff's
                           input noise σ 0.001 and latent noise σ 0.1, MSE)
             latents.npz   the training latents and their standardization (`LatentScale`)
             diffusion/    the latent denoiser, conditioned on the task (or not)
  sample  -> generated/<task>/   `generate.num_models` models per task
             generated_stats_of.json   the seen task whose statistics each task used
  eval    -> report.json, report.md, similarity.png, with COND P-DIFF's protocol: the best
             generated model on the training split, reported on test, against the best
             original and the model soup

Vectors are normalized per coordinate (`generator.normalization`): per task (COND P-DIFF's
task normalization, the default), over the whole zoo ('batch'), or not at all. An unseen
task has no statistics of its own; it borrows those of the seen task whose condition is
nearest (cosine), so only describing conditions (text, data) generate for unseen tasks.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import params as P
from paramgen_jax import stage_helpers as H
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.zoo.accuracy import take_sets
from paramgen_jax.integrity import atomic_write_json, read_json
from paramgen_jax.methods.pdiff import conditions as cond_lib
from paramgen_jax.methods.pdiff import core
from paramgen_jax.nn.unet1d import CONDITIONING
from paramgen_jax.params.codec import load_codec, save_codec
from paramgen_jax.zoo import spec
from paramgen_jax.zoo.conditions import nearest_seen

SCHEMA = {
    "method": C.one_of("pdiff"),
    **spec.ZOO_SCHEMA,
    "autoencoder": {"channels": C.sequence(int, 1, minimum=1), "latent_dim": C.integer(1),
                    "kernel": C.integer(1), "input_noise": C.real(0.0),
                    "latent_noise": C.real(0.0)},
    "autoencoder_train": C.TRAIN_SCHEMA,
    "generator": {
        "normalization": C.one_of(*P.normalize.COORDINATE_NORMALIZATIONS),
        "condition": C.one_of(*cond_lib.CONDITIONS),
        "embed_dim": C.integer(1), "prompt_seed": C.integer(0),
        "unet_encoder": C.sequence(int, 1, minimum=1),
        "unet_decoder": C.sequence(int, 0, minimum=1),
        "denoiser_conditioning": C.one_of(*CONDITIONING),
        "zoo_size": C.integer(0),
    },
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "generate": {"num_models": C.integer(1), "select_split": C.one_of("train", "val")},
    "mesh": C.MESH_FIELD,
}
STATS_OF = "generated_stats_of.json"  # task -> the seen task whose statistics sampling used


def validate(config: Any) -> None:
  """The zoo's checks, and the conditions p-diff can use with this zoo."""
  spec.validate_zoo(config)
  g = config.generator
  C.require(g.condition != "data" or config.get("adapter") is not None, "generator.condition",
            "'data' uses the LoRA base model as its frozen encoder: it needs an adapter section")
  C.require(g.condition != "none" or config.tasks.kind == "full", "generator.condition",
            "an unconditional p-diff generates one task: use tasks.kind = 'full' or a condition")


def last_checkpoints(rows: list[dict], stacked: Any, per_task: int) -> tuple[list[dict], Any]:
  """The `per_task` latest checkpoints (by step) of every task; all when per_task is 0."""
  if not per_task:
    return rows, stacked
  keep = []
  for task in dict.fromkeys(r["task"] for r in rows):
    mine = [i for i, r in enumerate(rows) if r["task"] == task]
    keep += sorted(mine, key=lambda i: rows[i]["step"])[-per_task:]
  keep = np.asarray(sorted(keep))
  return [rows[i] for i in keep], take_sets(stacked, keep)


def _frozen_features(inputs: spec.ZooInputs) -> Any:
  """The LoRA base model's class-token features, images (B, ...) -> (B, dim)."""
  base, variables = inputs.base
  return jax.jit(lambda x: base.module.apply(variables, x, features=True))


def task_conditions(config: Any, workdir: str, inputs: Any, seen: list[str]) -> dict:
  """Task name -> what the denoiser receives, for every task of the zoo (manifest order;
  only the seen ones for 'onehot' and 'learned', None for 'none')."""
  g = config.generator
  names = list(spec.manifest_splits(workdir))
  features_fn, data = None, None
  if g.condition == "data":
    features_fn = _frozen_features(inputs)
    data = (inputs.dataset.x_train, inputs.dataset.y_train)
  compute = lambda: cond_lib.condition_vectors(
      g.condition, [inputs.by_name[n] for n in names], seen, seed=g.prompt_seed,
      features_fn=features_fn, data=data)
  if g.condition not in cond_lib.DESCRIBING:
    return compute()
  return H.cached_vectors(os.path.join(workdir, f"conditions_{g.condition}_seed{g.prompt_seed}.npz"),
                 names, compute)


def collect(config: Any, workdir: str) -> None:
  """Collects the zoo (and a LoRA zoo's base model) of the config's zoo sections."""
  spec.collect_zoo_from_config(config, workdir)


def train(config: Any, workdir: str) -> None:
  """Fits the codec on the last `zoo_size` seen checkpoints per task, saves it in codec/,
  then trains the autoencoder and the latent denoiser (`core.train`)."""
  g, inputs = config.generator, spec.build_zoo_inputs(config, workdir)
  rows, stacked = spec.load_checked_zoo(config, workdir, split="seen", inputs=inputs)
  rows, stacked = last_checkpoints(rows, stacked, g.zoo_size)
  seen = list(dict.fromkeys(r["task"] for r in rows))
  if g.condition == "none" and len(seen) != 1:
    raise ValueError(f"unconditional p-diff needs one seen task, the zoo has {len(seen)}")
  task_ids = np.asarray([seen.index(r["task"]) for r in rows], np.int32)
  codec = core.fit_codec(stacked, config, task_ids, seen)
  save_codec(codec, H.codec_dir(workdir))
  print(f"p-diff: {len(rows)} checkpoints of {len(seen)} tasks, "
        f"{codec.layout.num_params:,} parameters (padded to {codec.length}); "
        f"normalization {g.normalization}, condition {g.condition}")
  conditions = None
  if g.condition != "none":
    by_task = task_conditions(config, workdir, inputs, seen)
    conditions = np.stack([by_task[r["task"]] for r in rows])
  core.train(stacked, config, task_ids=task_ids, tasks=seen, conditions=conditions,
             codec=codec, workdir=workdir)


def target_tasks(config: Any, workdir: str, conditions: dict) -> list[str]:
  """The seen tasks, plus the unseen ones when the condition can describe them."""
  split_of = spec.manifest_splits(workdir)
  names = [n for n in conditions if split_of[n] == "seen"]
  if config.generator.condition in cond_lib.DESCRIBING:
    names += [n for n in conditions if split_of[n] == "unseen"]
  return names


def sample(config: Any, workdir: str) -> None:
  """`generate.num_models` models per target task into generated/<task>/, each denormalized
  with its own statistics (seen) or the nearest seen task's (unseen; STATS_OF says which)."""
  codec, g = load_codec(H.codec_dir(workdir)), config.generator
  seen = list(codec.tasks)
  conditions = task_conditions(config, workdir, spec.build_zoo_inputs(config, workdir), seen)
  example = None if g.condition == "none" else np.stack([conditions[seen[0]]])
  generator = core.load(config, workdir, codec, example)
  stats_of = (nearest_seen(conditions, seen) if g.condition in cond_lib.DESCRIBING
              else {n: n for n in conditions})
  names = target_tasks(config, workdir, conditions)
  # The report's neighbour baseline for unseen tasks: their adapters sit near that task's.
  atomic_write_json(os.path.join(workdir, STATS_OF), {n: stats_of[n] for n in names})
  if not names:
    return
  n, key = config.generate.num_models, jax.random.key(config.sample.seed)
  row = lambda name: jnp.int32(seen.index(stats_of[name]))
  size, run = core.generation_plan(generator, conditions[names[0]], row(names[0]), key)
  H.generate_for_tasks(
      workdir, names, n, size,
      lambda name, task_key, first: run(
          generator.ae_params, generator.den_params, generator.scale, conditions[name],
          row(name), H.chunk_key(task_key, first, size, n)), key)
  g = generator
  one = lambda a, d, s, c, t, k: core.generate(g._replace(ae_params=a, den_params=d, scale=s),
                                               k, c, t, num_models=1)
  H.record_inference_cost(
      workdir, one, (g.ae_params, g.den_params, g.scale, conditions[names[0]], row(names[0]), key),
      (g.ae_params, g.den_params), H.timing_repeats(config))


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated models with COND P-DIFF's selection protocol; prints its lines."""
  stats_of = os.path.join(workdir, STATS_OF)
  neighbours = read_json(stats_of, "statistics map") if os.path.exists(stats_of) else None
  report = evaluate_generated(config, workdir, "pdiff", generated=H.load_generated(workdir),
                              select_split=config.generate.select_split, neighbours=neighbours)
  selection = report.data.get("selection", {})
  for split in ("seen", "unseen"):
    s = selection.get(split)
    if s:
      print(f"{split} ({s['tasks']} tasks): generated {s['generated_selected']:.2f}% "
            f"(selected on {config.generate.select_split}), original "
            f"{s['original_selected']:.2f}%, soup {s['soup']:.2f}%"
            + (f", nearest seen task's checkpoints {s['neighbour_selected']:.2f}%"
               if "neighbour_selected" in s else ""))
