"""D2NWG: weights generated from a task's support set.

  collect -> zoo/ (+ backbone/)   the zoo of the config's zoo sections (default: 5-way heads
                                  on a frozen feature extractor), and each extra
                                  architecture's zoo in arch_<name>/ (mixed-architecture runs)
  train   -> codec/<arch>/        per-coordinate normalization of each architecture's models
             vae/ latents.npz     stage 1: the weight VAE on model-wise vectors, zero-padded
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
from paramgen_jax import memory
from paramgen_jax import stage_helpers as H
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.eval.headline import headline_line, split_means
from paramgen_jax.methods.d2nwg import baselines, core, predictor, support
from paramgen_jax.methods.d2nwg.model import ENCODERS
from paramgen_jax.params.codec import FlatCodec, load_codec, save_codec
from paramgen_jax.zoo import features as features_lib
from paramgen_jax.zoo import spec
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
                 "decoder": C.sequence(int, 0, minimum=1)},
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
  spec.validate_zoo(config)
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
  """[(name, zoo config, workdir)]: the config's own model at workdir, then each entry of
  `architectures` as a zoo of its own in workdir/arch_<name>."""
  found = [(config.model.name, config, workdir)]
  for extra in config.architectures:
    sub = ml_collections.ConfigDict(config.to_dict())
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


def _codec_dir(workdir: str, arch: str) -> str:
  return os.path.join(workdir, "codec", arch)


def _length(config: Any, codecs: list[FlatCodec]) -> int:
  chunk = config.vae.chunk
  return max(-(-c.length // chunk) * chunk for c in codecs)


def _vectors(codec: FlatCodec, stacked: Any, length: int) -> tuple[np.ndarray, np.ndarray]:
  v = np.asarray(jax.vmap(lambda tree: codec.encode(tree, 0))(stacked), np.float32)
  n = codec.layout.num_params
  return (np.pad(v, ((0, 0), (0, length - v.shape[1]))),
          np.broadcast_to(np.arange(length) < n, (len(v), length)).copy())


def train(config: Any, workdir: str) -> None:
  """Fits the codecs and trains the VAE, the aligned encoder, the diffusion (and predictor)."""
  feats, labels, _ = support.image_features(config, workdir, train=False)
  zoos = []
  for arch, sub, subdir in architectures(config, workdir):
    inputs = spec.build_zoo_inputs(sub, subdir)
    seen = _seen_tasks(config, inputs)
    rows, stacked = spec.load_checked_zoo(sub, subdir, split="seen", inputs=inputs)
    keep = np.flatnonzero([r["task"] in {t.name for t in seen} for r in rows])
    stacked = jax.tree_util.tree_map(lambda a: np.asarray(a)[keep], stacked)
    codec = FlatCodec.fit(stacked, np.zeros(len(keep), np.int32), ("all",),
                          normalization="batch", multiple=config.vae.chunk)
    save_codec(codec, _codec_dir(workdir, arch))
    zoos.append((codec, stacked, [rows[i]["task"] for i in keep], seen, inputs))
  length = _length(config, [z[0] for z in zoos])
  seen = zoos[0][3]
  numbers = support.task_numbers(zoos[0][4], [t.name for t in seen])
  index = {t.name: i for i, t in enumerate(seen)}
  parts = [(*_vectors(codec, stacked, length), np.full(len(names), a, np.int32),
            np.asarray([index[n] for n in names], np.int32))
           for a, (codec, stacked, names, _, _) in enumerate(zoos)]
  s = config.support
  sets = support.support_sets(feats, labels, seen, numbers, s.shots, s.draws, s.seed)
  data = core.TrainData(*(np.concatenate(p) for p in zip(*parts)), sets,
                        np.ones(sets.shape[:-1], bool))
  print(f"D2NWG: {len(data.vectors)} models of {len(seen)} seen tasks, {len(zoos)} "
        f"architecture(s), vectors of {length}; support sets {sets.shape[1:]}")
  generator = core.train(data, config, workdir=workdir)
  if config.predictor.use:
    predictor.train(config, workdir, generator, data, zoos)


def _dims(config: Any, workdir: str) -> tuple:
  codecs = [load_codec(_codec_dir(workdir, arch)) for arch, _, _ in architectures(config, workdir)]
  length = _length(config, codecs)
  return codecs, (length, core.latent_size(config, length), len(codecs),
                  config.tasks.subset_k, config.support.shots, config.backbone.hidden[-1])


def load_generator(config: Any, workdir: str) -> tuple[core.Generator, list[FlatCodec]]:
  codecs, dims = _dims(config, workdir)
  return core.load(config, workdir, dims), codecs


def sample(config: Any, workdir: str) -> None:
  """Models for every task from its support set, per architecture; k-shot runs for unseen."""
  generator, codecs = load_generator(config, workdir)
  feats, labels, _ = support.image_features(config, workdir, train=False)
  rank = predictor.load(config, workdir, generator) if config.predictor.use else None
  s = config.support
  for a, (arch, sub, subdir) in enumerate(architectures(config, workdir)):
    inputs = spec.build_zoo_inputs(sub, subdir)
    names = list(spec.manifest_splits(subdir))
    numbers = support.task_numbers(inputs, names)
    unseen = [i for i, t in enumerate(names) if inputs.splits[t] == "unseen"]
    jobs = [(subdir, list(range(len(names))), s.shots)] + [
        (os.path.join(subdir, f"shots{k}"), unseen, k) for k in s.eval_shots]
    for out_dir, chosen, shots in jobs:
      tasks = [names[i] for i in chosen]
      sets = support.support_sets(feats, labels, [inputs.by_name[t] for t in tasks],
                                  [numbers[i] for i in chosen], shots, 1, s.seed)[:, 0]
      padded, mask = support.pad_shots(sets, s.shots)
      conds = dict(zip(tasks, core.conditions(generator, padded, mask, a)))
      key = jax.random.fold_in(jax.random.key(config.sample.seed), 1000 * a + shots)
      _generate(config, generator, codecs[a], out_dir, conds, rank, key)
      if out_dir == subdir:
        _record_cost(config, generator, codecs[a], out_dir, next(iter(conds.values())), key)


def _generate(config: Any, generator: core.Generator, codec: FlatCodec, out_dir: str,
              conds: dict, rank: Any, key: jax.Array) -> None:
  """`generate.num_models` per task into out_dir/generated; with a predictor, the best of
  `predictor.candidates` (all candidates kept in out_dir/candidates/generated)."""
  n = config.generate.num_models
  count = config.predictor.candidates if rank is not None else n
  g = generator
  size, run = generation_plan(config, g, codec, next(iter(conds.values())), key, count)
  if rank is not None and size < count:
    raise ValueError(f"predictor.candidates = {count} models of one task do not fit "
                     f"memory.budget_gb at once ({size} do): lower predictor.candidates")

  def make(task, task_key, start):
    models, z = run(g.vae_params, g.den_params, g.scale.mean, g.scale.std, conds[task],
                    H.chunk_key(task_key, start, size, count))
    if rank is None:
      return models
    H.save_generated(os.path.join(out_dir, "candidates"), task, models)
    return predictor.top(rank, z, conds[task], models, n)

  H.generate_for_tasks(out_dir, list(conds), n, n if rank is not None else size, make, key)


def _record_cost(config: Any, generator: core.Generator, codec: FlatCodec, out_dir: str,
                 cond: dict, key: jax.Array) -> None:
  """One model's generation time and memory plan into out_dir/inference.json (without the
  predictor's ranking of candidates)."""
  g = generator
  H.record_inference_cost(
      out_dir, _generation(g, codec, 1), (g.vae_params, g.den_params, g.scale.mean, g.scale.std,
                                          cond, key),
      (g.vae_params, g.den_params), H.timing_repeats(config))


def generation_plan(config: Any, generator: core.Generator, codec: FlatCodec, cond: dict,
                    key: jax.Array, count: int) -> tuple[int, Any]:
  """(models per call, compiled generation taking (vae params, denoiser params, latent mean,
  std, condition, key)): as many of `count` as fit memory.budget_gb (XLA's plan)."""
  g = generator
  return memory.plan_count(
      lambda num: _generation(g, codec, num),
      (g.vae_params, g.den_params, g.scale.mean, g.scale.std, cond, key), count,
      memory.budget_bytes(config.get("memory")), what="D2NWG generation of one model (generate.num_models)")


def _generation(generator: core.Generator, codec: FlatCodec, num: int):
  """(vae params, denoiser params, latent mean, std, condition, key) -> (`num` models
  stacked, their standardized latents (num, Z)); the trained arrays are arguments so one
  executable serves every task."""
  def run(vae_params, den_params, mean, std, cond, key):
    g = generator._replace(vae_params=vae_params, den_params=den_params,
                           scale=core.Scale(mean, std))
    z = core.sample_latents(g, cond, key, num)
    return core.decode_models(g, codec, z), z

  return run


def evaluate(config: Any, workdir: str) -> None:
  """One report per architecture (generated: mean over each task's models, no selection
  beyond the predictor's), with the per-task baselines; prints the headline figures."""
  generator, codecs = load_generator(config, workdir)
  feats, labels, _ = support.image_features(config, workdir, train=False)
  summary = {}
  for a, (arch, sub, subdir) in enumerate(architectures(config, workdir)):
    inputs = spec.build_zoo_inputs(sub, subdir)
    rows, stacked = spec.load_checked_zoo(sub, subdir, inputs=inputs)
    found = baselines.per_task(config, subdir, inputs, rows, stacked, generator, codecs[a],
                               feats, labels)
    report = evaluate_generated(sub, subdir, "d2nwg", generated=H.load_generated(subdir),
                                task_baselines=found)
    summary[arch] = _headline(arch, report.data)
  if len(summary) > 1:
    with open(os.path.join(workdir, "architectures.json"), "w") as f:
      json.dump(summary, f, indent=1)


def _headline(arch: str, data: dict) -> dict:
  """Prints and returns {split: `split_means`} of a report."""
  out = {split: split_means(data, split) for split in ("seen", "unseen")}
  out = {split: means for split, means in out.items() if means}
  for split, means in out.items():
    print(headline_line(arch, split, means))
  return out
