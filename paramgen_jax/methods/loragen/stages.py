"""LoRAGen: a LoRA VAE with a module-aware MoE decoder, and a text-conditioned latent DiT.

  collect -> zoo/, base/       the LoRA zoo of the config's zoo sections
  train   -> vae/              stage 1: one latent per LoRA location, direction + spectral
                               losses on ΔW, MoE load balancing (checkpoints, resumable)
             latents.npz       the adapters' posterior means
             diffusion/        stage 2: the DiT over the location latents, v-prediction,
                               conditioned on the task's MiniLM description embedding
             generator/        the trained generator (`core.save`; what sample and eval load)
  sample  -> generated/<task>/ `generate.num_models` adapters per seen and unseen task, from
                               the task's text alone (no selection)
  eval    -> report.json, report.md, similarity.png; per-task baselines: the base model
             (its 10-way head read through the task's labels), the average LoRA (all seen
             adapters averaged), the nearest seen task's adapters (by description), and
             experts.png / spectra.png (expert usage per module, spectral entropy of ΔW)
"""

from __future__ import annotations

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory, runfiles
from paramgen_jax.eval.baselines import nearest_seen_task, reconstruction, soup
from paramgen_jax.artifact import config_json, with_run_sections
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.methods.loragen import core, plots
from paramgen_jax.zoo import spec
from paramgen_jax.zoo.accuracy import accuracy, correct_matrix, predict_many, take_sets
from paramgen_jax.zoo.conditions import description_conditions

SCHEMA = {
    "method": C.one_of("loragen"),
    **spec.ZOO_SCHEMA,
    "vae": {
        "latent_dim": C.integer(1), "encoder_hidden": C.integer(1),
        "num_experts": C.integer(1), "top_k": C.integer(1), "expert_hidden": C.integer(1),
        "expert_features": C.integer(1), "shared_pool": C.boolean(), "structural": C.boolean(),
        "moe": C.boolean(),
        "direction": C.real(0.0), "spectral": C.real(0.0), "rec": C.real(0.0),
        "dense": C.real(0.0), "kl": C.real(0.0), "balance": C.real(0.0),
        "balance_warmup": C.integer(0), "rho": C.real(0.0, 1.0, exclusive_min=True),
        "p": C.one_of(1, 2), "tau_start": C.real(0.0, exclusive_min=True),
        "tau_end": C.real(0.0, exclusive_min=True), "tau_steps": C.integer(0),
    },
    "vae_train": C.TRAIN_SCHEMA,
    "dit": {"dim": C.integer(1), "depth": C.integer(1), "heads": C.integer(1),
            "mlp_ratio": C.integer(1), "latent_norm": C.one_of(*core.LATENT_NORMS)},
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "generate": {"num_models": C.integer(1)},
    "mesh": C.MESH_FIELD,
}


def validate(config: Any) -> None:
  """The zoo's checks; LoRAGen generates adapters, so the zoo must be a LoRA zoo."""
  spec.validate_zoo(spec.zoo_sections(config))
  C.require(config.get("adapter") is not None, "adapter",
            "LoRAGen generates LoRA adapters: the zoo needs an adapter section")
  v = config.vae
  C.require(v.top_k <= v.num_experts, "vae.top_k",
            f"must be at most vae.num_experts = {v.num_experts}, got {v.top_k}")
  C.require(config.dit.dim % config.dit.heads == 0, "dit.heads",
            f"must divide dit.dim = {config.dit.dim}, got {config.dit.heads}")


def task_conditions(workdir: str, inputs: spec.ZooInputs) -> dict[str, np.ndarray]:
  """Task name -> its mean MiniLM description embedding (384,), every task of the zoo,
  cached in workdir/conditions_descriptions.npz."""
  names = list(spec.manifest_splits(workdir))
  compute = lambda: dict(zip(names, description_conditions([inputs.by_name[n] for n in names])))
  return runfiles.cached_vectors(os.path.join(workdir, "conditions_descriptions.npz"), names,
                                 compute)


def collect(config: Any, workdir: str) -> None:
  """Collects the LoRA zoo (and its base model) of the config's zoo sections."""
  spec.collect_zoo_from_config(spec.zoo_sections(config), workdir)


def train(config: Any, workdir: str) -> None:
  """Trains stage 1 and stage 2 (`core.train`) on the seen tasks' adapters and saves the
  generator (`core.save`) to workdir/generator."""
  zoo = spec.zoo_sections(config)
  inputs = spec.build_zoo_inputs(zoo, workdir)
  rows, stacked = spec.load_checked_zoo(zoo, workdir, split="seen", inputs=inputs)
  by_task = task_conditions(workdir, inputs)
  conditions = np.stack([by_task[r["task"]] for r in rows])
  print(f"LoRAGen: {len(rows)} adapters of {len(set(r['task'] for r in rows))} seen tasks")
  generator = core.train(stacked, config, conditions=conditions, workdir=workdir)
  core.save(generator, runfiles.generator_dir(workdir))


def sample(config: Any, workdir: str) -> None:
  """`generate.num_models` adapters for every seen and unseen task, from its text (the task's
  condition repeated), within the memory budget."""
  inputs = spec.build_zoo_inputs(spec.zoo_sections(config), workdir)
  generator = with_run_sections(core.load(runfiles.generator_dir(workdir)), config)
  conditions = task_conditions(workdir, inputs)
  n, key = config.generate.num_models, jax.random.key(config.sample.seed)
  budget = memory.budget_bytes(config.get("memory"))
  repeated = lambda task, count: np.repeat(conditions[task][None], count, axis=0)
  runfiles.generate_for_tasks(
      workdir, list(conditions), n,
      lambda task, task_key: memory.generate_within_budget(
          core.generate, generator, task_key, repeated(task, n), n, budget,
          what="LoRAGen generation of one adapter", mesh=memory.device_mesh()), key)
  runfiles.record_inference_cost(workdir, core.generate, generator, key,
                                 repeated(next(iter(conditions)), 1),
                                 runfiles.timing_repeats(config.generate),
                                 trained=(generator.vae_params, generator.dit_params))


def _reconstructed(generator: core.Generator, stacked: Any) -> Any:
  """Adapters (S, ...) through the VAE: posterior means decoded (stage 1's ceiling)."""
  g = generator
  x = core.normalized_rows(core.split_stack(g.plan, stacked), g.norm.divisors)
  means = core.encode_means(g.config, g.plan, g.vae_params, x)
  return jax.device_get(jax.jit(core.decode)(g, jnp.asarray(means)))


def _task_accuracy(predictions: np.ndarray, task: Any, labels: np.ndarray) -> np.ndarray:
  """(S, N) predicted task labels -> (S,) percent accuracy on the task's examples."""
  task_labels, used = task.relabel(labels)
  return accuracy(correct_matrix(predictions, task_labels, used), used)


def _base_logits(inputs: spec.ZooInputs, x: np.ndarray, chunk: int = 512) -> np.ndarray:
  """(N, classes) logits of the LoRA zoo's base model (its own 10-way head)."""
  base, variables = inputs.base
  logits = jax.jit(lambda v, xs: base.module.apply(v, xs))
  return np.concatenate([np.asarray(logits(variables, x[i:i + chunk]))
                         for i in range(0, len(x), chunk)])


def _grouped_predictions(logits: np.ndarray, task: Any) -> np.ndarray:
  """The base model's prediction for a task: the task label whose classes have the largest
  log-sum-exp of logits. (N, classes) -> (1, N)."""
  groups = np.asarray(task.label_map)
  scores = np.stack([np.logaddexp.reduce(np.where(groups == k, logits, -np.inf), axis=1)
                     for k in range(task.num_outputs)], axis=1)
  return scores.argmax(1)[None]


def _per_task_baselines(config: Any, zoo: Any, conditions: dict,
                        generator: core.Generator) -> dict:
  """{'base model (10-way head)', 'average LoRA', 'nearest seen task', 'VAE reconstruction'}:
  {task: test accuracies (K,)} on the zoo `evaluate_generated` loaded (a ZooView); the
  nearest seen task's adapters (by description) for unseen tasks only, the VAE
  reconstruction of a task's last adapter for seen tasks only."""
  inputs, (x, y) = zoo.inputs, zoo.inputs.dataset.split("test")
  seen_rows = np.concatenate([zoo.members(t) for t in zoo.tasks("seen")])
  # A binary model's predictions do not depend on the task it is scored on: predict once.
  average_pred = predict_many(inputs.target.apply, soup(take_sets(zoo.stacked, seen_rows)), x,
                              budget_bytes=zoo.budget)
  base_logits = _base_logits(inputs, x)
  found = {"base model (10-way head)": {}, "average LoRA": {},
           "nearest seen task": nearest_seen_task(zoo, conditions),
           "VAE reconstruction": reconstruction(zoo, lambda m: _reconstructed(generator, m))}
  for name in conditions:
    task = inputs.by_name[name]
    found["base model (10-way head)"][name] = _task_accuracy(
        _grouped_predictions(base_logits, task), task, y)
    found["average LoRA"][name] = _task_accuracy(average_pred, task, y)
  return found


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated adapters (mean over each task's, no selection) against the zoo and
  the per-task baselines; writes the report and the expert-usage and spectra plots."""
  generated = runfiles.load_generated(workdir)
  generator = core.load(runfiles.generator_dir(workdir))
  seen_adapters = []

  def baselines(zoo):
    seen_adapters.append(take_sets(zoo.stacked, np.concatenate(
        [zoo.members(t) for t in zoo.tasks("seen")])))
    return _per_task_baselines(config, zoo, task_conditions(workdir, zoo.inputs), generator)

  evaluate_generated(spec.zoo_sections(config), workdir, "loragen",
                     generated=generated, run_config=config_json(config),
                     task_baselines=baselines,
                     conditions=lambda zoo: task_conditions(workdir, zoo.inputs))
  plots.write_plots(workdir, generator, seen_adapters[0], generated)
