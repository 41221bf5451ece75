"""p-diff and COND P-DIFF: a parameter autoencoder and (conditional) latent diffusion.

  collect -> zoo/ (and base/ for LoRA zoos)   the zoo of the config's zoo sections
  train   -> autoencoder/  1-D conv autoencoder on normalized parameter vectors (p-diff's
                           input noise σ 0.001 and latent noise σ 0.1, MSE), checkpoints
             latents.npz   the training latents and their standardization (`LatentScale`)
             diffusion/    the latent denoiser, conditioned on the task (or not), checkpoints
             generator/    the trained generator (`core.save`: networks, standardization,
                           the codec with its per-task statistics, the seen tasks' conditions)
  sample  -> generated/<task>/   `generate.num_models` models per task
             generated_stats_of.json   the seen task whose statistics each task used
  eval    -> report.json, report.md, similarity.png, with COND P-DIFF's protocol: the best
             generated model on the training split, reported on test, against the best
             original and the model soup

Vectors are normalized per coordinate (`generator.normalization`): per task (COND P-DIFF's
task normalization, the default), over the whole zoo ('batch'), or not at all. An unseen
task has no statistics of its own: it borrows those of the seen task whose condition is
nearest (cosine), or with `generator.unseen_stats = 'ridge'` gets them regressed on its
condition; only describing conditions (text, data) generate for unseen tasks.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory, runfiles
from paramgen_jax import params as P
from paramgen_jax.artifact import config_json, with_run_sections
from paramgen_jax.eval.entry import ZooView, evaluate_generated
from paramgen_jax.eval.fitted import MIN_SEEN_TASKS, ridge_lambda
from paramgen_jax.integrity import atomic_write_json, read_json
from paramgen_jax.methods.pdiff import conditions as cond_lib
from paramgen_jax.methods.pdiff import core
from paramgen_jax.nn.unet1d import CONDITIONING
from paramgen_jax.zoo import spec
from paramgen_jax.zoo.accuracy import take_sets

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
        "unseen_stats": C.one_of(*core.UNSEEN_STATS),
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
  spec.validate_zoo(spec.zoo_sections(config))
  g = config.generator
  C.require(g.condition != "data" or config.get("adapter") is not None, "generator.condition",
            "'data' uses the LoRA base model as its frozen encoder: it needs an adapter section")
  C.require(g.unseen_stats != "ridge" or g.condition in (*cond_lib.DESCRIBING, "none"),
            "generator.unseen_stats", "'ridge' regresses the statistics on conditions that "
            "describe a task: use condition 'text', 'text_description' or 'data', or "
            "unseen_stats 'nearest' (as the :onehot and :learned presets do)")
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
  path = os.path.join(workdir, f"conditions_{g.condition}_seed{g.prompt_seed}.npz")
  return runfiles.cached_vectors(path, names, compute)


def collect(config: Any, workdir: str) -> None:
  """Collects the zoo (and a LoRA zoo's base model) of the config's zoo sections."""
  spec.collect_zoo_from_config(spec.zoo_sections(config), workdir)


def seen_names(workdir: str) -> list[str]:
  """The seen tasks in manifest order: the order of their first checkpoints in the zoo the
  train stage loads, so row k of the generator's statistics is task k."""
  return [n for n, split in spec.manifest_splits(workdir).items() if split == "seen"]


def train(config: Any, workdir: str) -> None:
  """Trains the generator on the last `zoo_size` seen checkpoints per task (`core.train`,
  which resumes from its checkpoints in the workdir) and saves it (`runfiles.generator_dir`).
  With unseen_stats 'ridge', the unseen tasks' mean is regressed with the λ the ridge
  baseline would pick on these checkpoints (held-out validation accuracy)."""
  g, zoo = config.generator, spec.zoo_sections(config)
  inputs = spec.build_zoo_inputs(zoo, workdir)
  rows, stacked = spec.load_checked_zoo(zoo, workdir, split="seen", inputs=inputs)
  rows, stacked = last_checkpoints(rows, stacked, g.zoo_size)
  seen = list(dict.fromkeys(r["task"] for r in rows))
  if g.condition == "none" and len(seen) != 1:
    raise ValueError(f"unconditional p-diff needs one seen task, the zoo has {len(seen)}")
  conditions, mean_lambda = None, None
  if g.condition != "none":
    by_task = task_conditions(config, workdir, inputs, seen)
    conditions = np.stack([by_task[r["task"]] for r in rows])
    if g.unseen_stats == "ridge" and len(seen) >= MIN_SEEN_TASKS:
      view = ZooView(inputs, rows, stacked, memory.budget_bytes(config.get("memory")))
      mean_lambda, scores = ridge_lambda(view, {t: by_task[t] for t in seen})
      print(f"unseen tasks' mean: ridge lambda {mean_lambda:g}, the best leave-one-task-out "
            f"validation accuracy over the seen tasks ({scores})")
  generator = core.train(stacked, config, conditions=conditions, workdir=workdir,
                         mean_lambda=mean_lambda)
  core.save(generator, runfiles.generator_dir(workdir))


def target_tasks(config: Any, workdir: str, conditions: dict) -> list[str]:
  """The seen tasks, plus the unseen ones when the condition can describe them."""
  split_of = spec.manifest_splits(workdir)
  names = [n for n in conditions if split_of[n] == "seen"]
  if config.generator.condition in cond_lib.DESCRIBING:
    names += [n for n in conditions if split_of[n] == "unseen"]
  return names


def stats_of(generator: core.Generator, conditions: dict, seen: list[str]) -> dict[str, str]:
  """Task -> the seen task whose statistics `core.generate` denormalizes its models with
  (its own, or the nearest seen task's), from the generator's seen conditions."""
  if generator.seen is None:
    return {n: n for n in conditions}
  row = lambda name: int(cond_lib.stats_rows(generator.seen,
                                             np.asarray(conditions[name])[None])[0])
  name_of_row = {row(n): n for n in reversed(seen)}  # the first seen task of a row names it
  return {n: name_of_row[row(n)] for n in conditions}


def sample(config: Any, workdir: str) -> None:
  """`generate.num_models` models per target task into generated/<task>/, each denormalized
  with its own statistics (seen) or the nearest seen task's (unseen; STATS_OF says which)."""
  generator = with_run_sections(core.load(runfiles.generator_dir(workdir)), config)
  seen = seen_names(workdir)
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  conditions = task_conditions(config, workdir, inputs, seen)
  names = target_tasks(config, workdir, conditions)
  used = stats_of(generator, conditions, seen)
  # The report's neighbour baseline for unseen tasks: their adapters sit near that task's.
  atomic_write_json(os.path.join(workdir, STATS_OF), {n: used[n] for n in names})
  if not names:
    return
  n, key = config.generate.num_models, jax.random.key(config.sample.seed)
  per_model = lambda name, count: (None if conditions[name] is None else
                                   np.repeat(np.asarray(conditions[name])[None], count, 0))
  budget = memory.budget_bytes(config.get("memory"))
  runfiles.generate_for_tasks(
      workdir, names, n,
      lambda name, task_key: memory.generate_within_budget(
          core.generate, generator, task_key, per_model(name, n), n, budget,
          what="p-diff generation (generate.num_models)",
          mesh=memory.device_mesh()), key)
  runfiles.record_inference_cost(workdir, core.generate, generator, key,
                                 per_model(names[0], 1), runfiles.timing_repeats(config.generate),
                                 trained=(generator.ae_params, generator.den_params))


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated models with COND P-DIFF's selection protocol; prints its lines."""
  path = os.path.join(workdir, STATS_OF)
  neighbours = read_json(path, "statistics map") if os.path.exists(path) else None
  # Vector conditions get the baselines fitted on the seen tasks' weights (`eval.fitted`).
  fitted = config.generator.condition not in ("none", "learned")

  def conditions(zoo):
    found = task_conditions(config, workdir, zoo.inputs, seen_names(workdir))
    return {t: np.asarray(v, np.float32) for t, v in found.items() if v is not None}

  report = evaluate_generated(spec.zoo_sections(config), workdir, "pdiff",
                              generated=runfiles.load_generated(workdir),
                              run_config=config_json(config),
                              select_split=config.generate.select_split, neighbours=neighbours,
                              conditions=conditions if fitted else None)
  selection = report.data.get("selection", {})
  for split in ("seen", "unseen"):
    s = selection.get(split)
    if s:
      print(f"{split} ({s['tasks']} tasks): generated {s['generated_selected']:.2f}% "
            f"(selected on {config.generate.select_split}), original "
            f"{s['original_selected']:.2f}%, soup {s['soup']:.2f}%"
            + (f", nearest seen task's checkpoints {s['neighbour_selected']:.2f}%"
               if "neighbour_selected" in s else ""))
