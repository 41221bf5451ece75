"""D2NWG: weights generated from a task's support set.

  collect -> zoo/ (+ backbone/)   the zoo of the config's zoo sections (default: 5-way heads
                                  on a frozen feature extractor), and each extra
                                  architecture's zoo in arch_<name>/ (mixed-architecture runs)
  train   -> generator/           the trained generator (`core.save`): each architecture's
                                  codec (per-coordinate normalization), the stages below
             vae/                 stage 1: the weight VAE on model-wise vectors, zero-padded
                                  to the largest architecture (skipped with vae.use = False)
             align/               stage 2: the Set-Transformer dataset encoder aligned to the
                                  latents (CLIP loss), then frozen (encoder.kind = 'set')
             diffusion/           stage 3: latent diffusion conditioned on [support-set
                                  embedding, architecture]
             predictor/           optional accuracy predictor (predictor.use)
  sample  -> generated/<task>/    `generate.num_models` models per seen and unseen task, from
                                  its support set (draw 0, `support.shots` shots); ranked by
                                  the predictor among `predictor.candidates` when it is used;
             shots<k>/generated/  the unseen tasks again from k-shot support sets
                                  (`support.eval_shots`)
  eval    -> report.json, report.md (arch_<name>/report.json for extra architectures) with
             per-task baselines (baselines.py)
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory, runfiles
from paramgen_jax.artifact import config_json, with_run_sections
from paramgen_jax.eval.baselines import short_training
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.eval.headline import split_means
from paramgen_jax.methods.d2nwg import baselines, core, predictor, support
from paramgen_jax.methods.d2nwg.conditions import support_conditions
from paramgen_jax.methods.d2nwg.model import ENCODERS
from paramgen_jax.protocol import MixedZoo
from paramgen_jax.zoo import features as features_lib
from paramgen_jax.zoo import spec
from paramgen_jax.zoo.accuracy import take_sets
from paramgen_jax.zoo.models import MODELS

SCHEMA = {
    "method": C.one_of("d2nwg"),
    **spec.ZOO_SCHEMA,
    "architectures": C.Field((tuple, list), lambda v: all(
        isinstance(a, dict) and a.get("name") in MODELS for a in v),
        f"must be a list of {{'name': one of {', '.join(sorted(MODELS))}, 'options': {{...}}}}"),
    "backbone": features_lib.SCHEMA,
    "train_tasks": C.integer(0),
    "support": {"shots": C.integer(1), "draws": C.integer(1), "seed": C.integer(0),
                "eval_shots": C.sequence(int, 0, minimum=1)},
    "vae": {"use": C.boolean(), "chunk": C.integer(1), "features": C.integer(1),
            "channels": C.sequence(int, 1, minimum=1), "latent_channels": C.integer(1),
            "kernel": C.integer(1), "beta": C.real(0.0), "input_noise": C.real(0.0)},
    "vae_train": C.TRAIN_SCHEMA,
    "encoder": {"kind": C.one_of(*ENCODERS), "dim": C.integer(1), "out_dim": C.integer(1),
                "heads": C.integer(1), "num_inducing": C.integer(1), "depth": C.integer(1),
                "mlp_hidden": C.integer(1)},
    "align": {"proj_dim": C.integer(1), "tau": C.real(0.0, exclusive_min=True),
              "targets": C.one_of("task", "latent", "soft")},
    "align_train": C.TRAIN_SCHEMA,
    "denoiser": {"embed_dim": C.integer(1), "encoder": C.sequence(int, 1, minimum=1),
                 "decoder": C.sequence(int, 0, minimum=1),
                 "mix": C.optional_section({"width": C.integer(1)})},
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "predictor": {"use": C.boolean(), "hidden": C.integer(1), "rows": C.integer(1),
                  "noise": C.sequence(float, 1, minimum=0.0), "candidates": C.integer(1)},
    "predictor_train": C.TRAIN_SCHEMA,
    "generate": {"num_models": C.integer(1)},
    "baselines": {"finetune_steps": C.integer(0), "finetune_lr": C.real(0.0, exclusive_min=True)},
    "mesh": C.MESH_FIELD,
}


def validate(config: Any) -> None:
  """The zoo's checks plus D2NWG's own."""
  spec.validate_zoo(spec.zoo_sections(config))
  C.require(config.tasks.kind == "subset", "tasks.kind",
            "D2NWG conditions on support sets of class-subset tasks: use 'subset'")
  C.require(config.get("adapter") is None, "adapter", "D2NWG generates whole models or heads")
  C.require(config.encoder.dim % config.encoder.heads == 0, "encoder.heads",
            f"must divide encoder.dim = {config.encoder.dim}")
  C.require(all(s <= config.support.shots for s in config.support.eval_shots),
            "support.eval_shots", f"must be at most support.shots = {config.support.shots}")
  C.require(config.vae.features % 2 ** len(config.vae.channels) == 0, "vae.features",
            f"must be a multiple of 2^len(vae.channels) = {2 ** len(config.vae.channels)}")
  C.require(not config.predictor.use or config.encoder.kind == "set", "predictor.use",
            "the predictor reads the frozen dataset embedding: needs encoder.kind = 'set'")
  C.require(config.predictor.candidates >= config.generate.num_models, "predictor.candidates",
            f"must be at least generate.num_models = {config.generate.num_models}")
  C.require(not config.architectures or config.get("features") is None, "architectures",
            "mixed architectures are whole networks: drop the features section")


def architectures(config: Any, workdir: str) -> list[tuple[str, Any, str]]:
  """[(name, zoo sections, workdir)]: the config's own model at workdir, then each entry of
  `architectures` as a zoo of its own in workdir/arch_<name>."""
  found = [(config.model.name, spec.zoo_sections(config), workdir)]
  for extra in config.architectures:
    sub = ml_collections.ConfigDict(spec.zoo_sections(config).to_dict())
    sub.model = {"name": extra["name"], "options": dict(extra.get("options", {}))}
    found.append((extra["name"], sub, os.path.join(workdir, f"arch_{extra['name']}")))
  return found


def collect(config: Any, workdir: str) -> None:
  """Collects every architecture's zoo and trains the condition backbone."""
  for _, sub, subdir in architectures(config, workdir):
    spec.collect_zoo_from_config(sub, subdir)
  support.image_features(config, workdir, train=True)


def _seen_tasks(config: Any, inputs: spec.ZooInputs) -> list:
  seen = [t for t in inputs.tasks if inputs.splits[t.name] == "seen"]
  return seen[:config.train_tasks] if config.train_tasks else seen


def training_zoo(config: Any, workdir: str, feats: np.ndarray, labels: np.ndarray
                 ) -> tuple[Any, dict, list, Any]:
  """(zoo: the seen models of each architecture, stacked or a MixedZoo; their SupportSets;
  the seen tasks; the first architecture's ZooInputs)."""
  zoos, tasks, found = [], [], []
  for _, sub, subdir in architectures(config, workdir):
    inputs = spec.build_zoo_inputs(sub, subdir)
    seen = _seen_tasks(config, inputs)
    rows, stacked = spec.load_checked_zoo(sub, subdir, split="seen", inputs=inputs)
    keep = np.flatnonzero([r["task"] in {t.name for t in seen} for r in rows])
    zoos.append(jax.tree_util.tree_map(lambda a: np.asarray(a)[keep], stacked))
    tasks += [rows[i]["task"] for i in keep]
    found.append((seen, inputs))
  seen, inputs = found[0]
  index = {t.name: i for i, t in enumerate(seen)}
  s = config.support
  sets = support.support_sets(feats, labels, seen, support.task_numbers(inputs, list(index)),
                              s.shots, s.draws, s.seed)
  conditions = support_conditions(np.asarray([index[t] for t in tasks], np.int32), sets,
                                  np.ones(sets.shape[:-1], bool))
  return zoos[0] if len(zoos) == 1 else MixedZoo(tuple(zoos)), conditions, seen, inputs


def train(config: Any, workdir: str) -> None:
  """Trains the VAE, the aligned encoder and the diffusion (resuming from their checkpoints),
  saves the generator to workdir/generator; then the predictor when it is used."""
  feats, labels, _ = support.image_features(config, workdir, train=False)
  zoo, conditions, seen, inputs = training_zoo(config, workdir, feats, labels)
  print(f"D2NWG: {len(conditions['task'])} models of {len(seen)} seen tasks, "
        f"{1 + len(config.architectures)} architecture(s); support sets "
        f"{conditions['support'].shape[1:]} per model")
  generator = core.train(zoo, config, conditions=conditions, workdir=workdir)
  core.save(generator, runfiles.generator_dir(workdir))
  if config.predictor.use:
    predictor.train(config, workdir, generator, zoo, conditions, seen, inputs)


def sample(config: Any, workdir: str) -> None:
  """Models for every task from its support set, per architecture; k-shot runs for unseen."""
  generator = with_run_sections(core.load(runfiles.generator_dir(workdir)), config)
  feats, labels, _ = support.image_features(config, workdir, train=False)
  rank = predictor.load(config, workdir, generator) if config.predictor.use else None
  for a, (_, sub, subdir) in enumerate(architectures(config, workdir)):
    g = core.for_architecture(generator, a)
    inputs = spec.build_zoo_inputs(sub, subdir)
    names = list(spec.manifest_splits(subdir))
    unseen = [t for t in names if inputs.splits[t] == "unseen"]
    jobs = [(subdir, names, config.support.shots)] + [
        (os.path.join(subdir, f"shots{k}"), unseen, k) for k in config.support.eval_shots]
    for out_dir, tasks, shots in jobs:
      rows = task_conditions(config, g, feats, labels, inputs, tasks, shots)
      key = job_key(config, a, shots)
      _generate(config, g, out_dir, tasks, rows, rank, key)
      if out_dir == subdir:
        runfiles.record_inference_cost(
            out_dir, core.generate, g, key, _rows(rows, 0, 1),
            runfiles.timing_repeats(config.generate), trained=(g.vae, g.denoiser))


def task_conditions(config: Any, generator: core.Generator, feats: np.ndarray,
                    labels: np.ndarray, inputs: Any, tasks: list[str], shots: int) -> dict:
  """SupportSets of one row per task: its draw-0 support set of `shots` shots (zero-padded to
  support.shots), embedded by the generator's frozen encoder all at once (`core.embed`)."""
  s = config.support
  sets = support.support_sets(feats, labels, [inputs.by_name[t] for t in tasks],
                              support.task_numbers(inputs, tasks), shots, 1, s.seed)
  padded, mask = support.pad_shots(sets, s.shots)
  return core.embed(generator, {"support": padded, "mask": mask})


def job_key(config: Any, arch: int, shots: int) -> jax.Array:
  """The key of architecture `arch`'s generation from `shots`-shot support sets (task i of
  the job draws from fold_in(key, i))."""
  return jax.random.fold_in(jax.random.key(config.sample.seed), 1000 * arch + shots)


def _rows(conditions: dict, task: int, count: int) -> dict:
  """Row `task` of conditions, repeated `count` times (a leading axis of count)."""
  return {k: np.repeat(np.asarray(v)[task:task + 1], count, 0) for k, v in conditions.items()}


def _with_latents(generator: core.Generator, key: jax.Array, conditions: dict,
                  num_models: int) -> tuple[Any, jax.Array]:
  """(models, their standardized latents (num_models, Z)): `core.generate`'s models and what
  the predictor ranks them by."""
  z = core.generate_latents(generator, key, conditions, num_models)
  return core.decode_models(generator, z), z


def _generate(config: Any, generator: core.Generator, out_dir: str, tasks: list[str],
              rows: dict, rank: Any, key: jax.Array) -> None:
  """`generate.num_models` per task into out_dir/generated (task i from row i of rows, key
  fold_in(key, i)); with a predictor, the best of `predictor.candidates` (all candidates
  kept in out_dir/candidates/generated)."""
  n = config.generate.num_models
  count = config.predictor.candidates if rank is not None else n
  budget = memory.budget_bytes(config.get("memory"))
  what = "D2NWG generation of one model (generate.num_models)"
  mesh = memory.device_mesh()  # the models split over this process's devices

  def make(task, task_key):
    conditions = _rows(rows, tasks.index(task), count)
    if rank is None:
      return memory.generate_within_budget(core.generate, generator, task_key, conditions,
                                           count, budget, what=what, mesh=mesh)
    models, z = memory.generate_within_budget(_with_latents, generator, task_key, conditions,
                                              count, budget, what=what, mesh=mesh)
    runfiles.save_generated(os.path.join(out_dir, "candidates"), task, models)
    return predictor.top(rank, z, conditions, models, n)

  runfiles.generate_for_tasks(out_dir, tasks, n, make, key)


def _other_generations(config: Any, subdir: str) -> dict[str, dict[str, Any]]:
  """{baseline name: {task: stacked models}}: the k-shot generations, and the predictor's
  first generate.num_models candidates (unranked); names without models left out."""
  found = {f"D2NWG, {k}-shot support": runfiles.load_generated(os.path.join(subdir, f"shots{k}"))
           for k in config.support.eval_shots}
  if config.predictor.use:
    first = np.arange(config.generate.num_models)
    found["D2NWG unranked"] = {t: take_sets(models, first) for t, models in
                               runfiles.load_generated(os.path.join(subdir, "candidates")).items()}
  return {name: by_task for name, by_task in found.items() if by_task}


def evaluate(config: Any, workdir: str) -> None:
  """One report per architecture (generated: mean over each task's models, no selection
  beyond the predictor's), with the per-task baselines; for several architectures, their
  headline figures in workdir/architectures.json."""
  generator = core.load(runfiles.generator_dir(workdir))
  feats, labels, _ = support.image_features(config, workdir, train=False)
  summary = {}
  for a, (arch, sub, subdir) in enumerate(architectures(config, workdir)):
    arch_generator = core.for_architecture(generator, a)
    others, generated = _other_generations(config, subdir), runfiles.load_generated(subdir)
    report = evaluate_generated(
        sub, subdir, "d2nwg", generated=generated, run_config=config_json(config),
        task_baselines=lambda zoo: {
            **baselines.per_task(config, zoo, arch_generator, feats, labels, others),
            **short_training(zoo, sub.collect, sub.eval, generated)})
    summary[arch] = {split: means for split in ("seen", "unseen")
                     if (means := split_means(report.data, split))}
  if len(summary) > 1:
    with open(os.path.join(workdir, "architectures.json"), "w") as f:
      json.dump(summary, f, indent=1)
