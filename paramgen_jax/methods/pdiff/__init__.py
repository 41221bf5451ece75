"""p-diff and COND P-DIFF: a parameter autoencoder and (conditional) latent diffusion.

  collect -> zoo/ (and base/ for LoRA zoos)   the zoo of the config's zoo sections
  train   -> autoencoder/  1-D conv autoencoder on normalized parameter vectors (p-diff's
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

import json
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory
from paramgen_jax import params as P
from paramgen_jax.eval.accuracy import take_sets
from paramgen_jax.methods import common
from paramgen_jax.methods import zoo as zoo_method
from paramgen_jax.methods.pdiff import conditions as cond_lib
from paramgen_jax.methods.pdiff.model import (LatentDenoiser, LatentScale, latent_diffusion_loss,
                                              sample_latents)
from paramgen_jax.nn.autoencoder1d import ParamAutoencoder, autoencoder_loss, padded_length
from paramgen_jax.train import fit
from paramgen_jax.train.metrics import progress_bar
from paramgen_jax.zoo import store
from paramgen_jax.zoo.models import make_target

SCHEMA = {
    "method": C.one_of("pdiff"),
    **zoo_method.ZOO_SCHEMA,
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
  zoo_method.validate(config)
  g = config.generator
  C.require(g.condition != "data" or config.get("adapter") is not None, "generator.condition",
            "'data' uses the LoRA base model as its frozen encoder: it needs an adapter section")
  C.require(g.condition != "none" or config.tasks.kind == "full", "generator.condition",
            "an unconditional p-diff generates one task: use tasks.kind = 'full' or a condition")


def _last_checkpoints(rows: list[dict], stacked: Any, per_task: int) -> tuple[list[dict], Any]:
  """The `per_task` latest checkpoints (by step) of every task; all when per_task is 0."""
  if not per_task:
    return rows, stacked
  keep = []
  for task in dict.fromkeys(r["task"] for r in rows):
    mine = [i for i, r in enumerate(rows) if r["task"] == task]
    keep += sorted(mine, key=lambda i: rows[i]["step"])[-per_task:]
  keep = np.asarray(sorted(keep))
  return [rows[i] for i in keep], take_sets(stacked, keep)


class Prepared:
  """The normalized training vectors, their tasks and conditions, and the models."""

  def __init__(self, config: Any, workdir: str):
    self.config, g = config, config.generator
    inputs = zoo_method.build_zoo_inputs(config, workdir)
    target, self.dataset, tasks, _ = inputs
    rows, stacked = zoo_method.load_checked_zoo(config, workdir, split="seen", inputs=inputs)
    self.rows, stacked = _last_checkpoints(rows, stacked, g.zoo_size)
    self.seen = list(dict.fromkeys(r["task"] for r in self.rows))
    if g.condition == "none" and len(self.seen) != 1:
      raise ValueError(f"unconditional p-diff needs one seen task, the zoo has {len(self.seen)}")
    self.task_ids = np.asarray([self.seen.index(r["task"]) for r in self.rows], np.int32)
    self.layout = P.ParamLayout.from_template(take_sets(stacked, 0))
    vectors = jax.vmap(self.layout.to_vector)(stacked)
    self.stats = P.fit_coordinate_stats(g.normalization, vectors, self.task_ids, len(self.seen))
    normalized = jax.vmap(P.normalize_task, in_axes=(0, 0, None))(
        vectors, jnp.asarray(self.task_ids), self.stats)
    self.length = padded_length(self.layout.num_params, len(config.autoencoder.channels))
    self.vectors = np.zeros((len(self.rows), self.length), np.float32)
    self.vectors[:, :self.layout.num_params] = np.asarray(normalized)
    self.mask = np.arange(self.length) < self.layout.num_params

    manifest = store.read_manifest(zoo_method.zoo_dir(workdir))
    names = list(dict.fromkeys(r["task"] for r in manifest))
    by_name = {t.name: t for t in tasks}
    features_fn, data = None, None
    if g.condition == "data":
      features_fn = _frozen_features(config, workdir, self.dataset)
      data = (self.dataset.x_train, self.dataset.y_train)
    compute = lambda: cond_lib.condition_vectors(
        g.condition, [by_name[n] for n in names], self.seen, seed=g.prompt_seed,
        features_fn=features_fn, data=data)
    self.conditions = (_cached_conditions(os.path.join(
        workdir, f"conditions_{g.condition}_seed{g.prompt_seed}.npz"), names, compute)
                       if g.condition in cond_lib.DESCRIBING else compute())
    self.stats_of = (cond_lib.nearest_seen(self.conditions, self.seen)
                     if g.condition in cond_lib.DESCRIBING else {n: n for n in self.conditions})
    self.split_of = {r["task"]: r["split"] for r in manifest}

  def autoencoder(self) -> ParamAutoencoder:
    a = self.config.autoencoder
    return ParamAutoencoder(self.length, tuple(a.channels), a.latent_dim, a.kernel)

  def denoiser(self) -> LatentDenoiser:
    g = self.config.generator
    return LatentDenoiser(g.condition, len(self.seen), g.embed_dim, tuple(g.unet_encoder),
                          tuple(g.unet_decoder))

  def condition_batch(self, picks: np.ndarray) -> np.ndarray | None:
    if self.config.generator.condition == "none":
      return None
    return np.stack([self.conditions[self.rows[i]["task"]] for i in picks])

  def ae_init(self):
    model = self.autoencoder()
    return lambda key: model.init(key, jnp.zeros(self.length))

  def denoiser_init(self):
    model, dim = self.denoiser(), self.config.autoencoder.latent_dim
    cond = self.condition_batch(np.zeros(1, int))
    return lambda key: model.init(key, jnp.zeros((1, dim)), jnp.zeros((1,), jnp.int32), cond)


def _cached_conditions(path: str, names: list[str], compute) -> dict[str, np.ndarray]:
  """Text and data conditions, computed once per workdir: MiniLM is loaded once, and the
  train and sample stages see identical vectors."""
  if os.path.exists(path):
    saved = np.load(path)
    if list(saved["names"]) == names:
      return dict(zip(names, saved["vectors"]))
  conditions = compute()
  np.savez(path, names=np.asarray(names), vectors=np.stack([conditions[n] for n in names]))
  return conditions


def _frozen_features(config: Any, workdir: str, dataset) -> Any:
  """The LoRA base model's class-token features, images (B, ...) -> (B, dim)."""
  variables, _ = zoo_method.base_variables(config, workdir, dataset, train_base=False)
  base = make_target(config.model.name, dataset.num_classes, **dict(config.model.options))
  return jax.jit(lambda x: base.module.apply(variables, x, features=True))


def collect(config: Any, workdir: str) -> None:
  zoo_method.collect(config, workdir)


def _random_rows(seed: int, count: int, batch_size: int):
  key = jax.random.key(seed)
  return lambda step: np.asarray(jax.random.randint(jax.random.fold_in(key, step),
                                                    (batch_size,), 0, count))


def encode_all(model: ParamAutoencoder, params: Any, vectors: np.ndarray,
               chunk: int = 256) -> np.ndarray:
  """(N, length) -> (N, latent_dim) noise-free latents."""
  encode = jax.jit(jax.vmap(lambda v: model.apply(params, v, method=ParamAutoencoder.encode)))
  return np.concatenate([np.asarray(encode(vectors[i:i + chunk]))
                         for i in range(0, len(vectors), chunk)])


def train(config: Any, workdir: str) -> None:
  prep = Prepared(config, workdir)
  a, mesh = config.autoencoder, common.mesh_from_config(config)
  ae, mask = prep.autoencoder(), jnp.asarray(prep.mask)
  print(f"p-diff: {len(prep.rows)} checkpoints of {len(prep.seen)} tasks, "
        f"{prep.layout.num_params:,} parameters (padded to {prep.length}); "
        f"normalization {config.generator.normalization}, condition {config.generator.condition}")
  pick = _random_rows(config.autoencoder_train.seed + 1, len(prep.rows),
                      config.autoencoder_train.batch_size)
  ae_state = fit(
      config.autoencoder_train, init_params=prep.ae_init(),
      loss_fn=lambda p, batch, rng: autoencoder_loss(ae, p, batch["x"], rng,
                                                     input_noise=a.input_noise,
                                                     latent_noise=a.latent_noise, mask=mask),
      batch_fn=lambda step: {"x": prep.vectors[pick(step)]},
      workdir=os.path.join(workdir, "autoencoder"),
      key=jax.random.key(config.autoencoder_train.seed), mesh=mesh, desc="train autoencoder")
  latents = encode_all(ae, ae_state.eval_params(), prep.vectors)
  scale = LatentScale.fit(latents)
  print(f"latents: mean {float(scale.mean):.3g}, std {float(scale.std):.3g} "
        f"(max |z| {np.abs(latents).max():.3g}); standardized for diffusion")
  np.savez(os.path.join(workdir, "latents.npz"), latents=latents, mean=np.asarray(scale.mean),
           std=np.asarray(scale.std))
  scaled = np.asarray(scale.forward(latents), np.float32)

  den, schedule = prep.denoiser(), common.schedule_from_config(config.diffusion)
  pick = _random_rows(config.train.seed + 1, len(prep.rows), config.train.batch_size)

  def batch_fn(step):
    rows = pick(step)
    batch = {"z": scaled[rows]}
    cond = prep.condition_batch(rows)
    return batch if cond is None else dict(batch, cond=cond)

  fit(config.train, init_params=prep.denoiser_init(),
      loss_fn=lambda p, batch, rng: latent_diffusion_loss(
          den, p, batch["z"], batch.get("cond"), rng, schedule, config.diffusion.prediction),
      batch_fn=batch_fn, workdir=os.path.join(workdir, "diffusion"),
      key=jax.random.key(config.train.seed), mesh=mesh, desc="train latent diffusion")


def load_generator(config: Any, workdir: str, prep: Prepared):
  """(autoencoder params, denoiser params, LatentScale) of a trained run."""
  ae_params, _ = common.load_trained_params(config, os.path.join(workdir, "autoencoder"),
                                            prep.ae_init(), config.autoencoder_train)
  den_params, _ = common.load_trained_params(config, os.path.join(workdir, "diffusion"),
                                             prep.denoiser_init())
  saved = np.load(os.path.join(workdir, "latents.npz"))
  return ae_params, den_params, LatentScale(jnp.asarray(saved["mean"]), jnp.asarray(saved["std"]))


def generate(prep: Prepared, ae_params: Any, den_params: Any, scale: LatentScale,
             condition: Any, stats_task: jax.Array, key: jax.Array, *,
             num_models: int | None = None) -> Any:
  """`num_models` parameter sets (num_models, ...) for one condition (default
  `generate.num_models`). Traceable."""
  config = prep.config
  n = config.generate.num_models if num_models is None else num_models
  z = sample_latents(prep.denoiser(), den_params, condition, n,
                     config.autoencoder.latent_dim, key,
                     common.schedule_from_config(config.diffusion),
                     **common.sampler_kwargs(config))
  ae = prep.autoencoder()
  decoded = jax.vmap(lambda c: ae.apply(ae_params, c, method=ParamAutoencoder.decode))(
      scale.inverse(z))[:, :prep.layout.num_params]
  vectors = jax.vmap(lambda v: P.denormalize_task(v, stats_task, prep.stats))(decoded)
  return jax.vmap(prep.layout.from_vector)(vectors.astype(prep.layout.dtype))


def target_tasks(prep: Prepared) -> list[str]:
  """The seen tasks, plus the unseen ones when the condition can describe them."""
  names = [n for n in prep.conditions if prep.split_of[n] == "seen"]
  if prep.config.generator.condition in cond_lib.DESCRIBING:
    names += [n for n in prep.conditions if prep.split_of[n] == "unseen"]
  return names


def generation_plan(prep: Prepared, ae_params: Any, den_params: Any, scale: LatentScale,
                    condition: Any, stats_task: jax.Array, key: jax.Array) -> tuple[int, Any]:
  """(models per call, compiled `generate` of that many): as many models as fit the config's
  memory budget (XLA's planned temporary memory), all of them when they fit.

  The compiled function takes (ae_params, den_params, scale, condition, stats_task, key);
  the parameters may be abstract (`jax.ShapeDtypeStruct`s) for planning alone.
  """
  return memory.plan_count(
      lambda m: lambda a, d, s, c, t, k: generate(prep, a, d, s, c, t, k, num_models=m),
      (ae_params, den_params, scale, condition, stats_task, key),
      prep.config.generate.num_models, memory.budget_bytes(prep.config),
      what="p-diff generation of one model (generate.num_models)")


def sample(config: Any, workdir: str) -> None:
  prep = Prepared(config, workdir)
  generator = load_generator(config, workdir, prep)
  key = jax.random.key(config.sample.seed)
  names = target_tasks(prep)
  # Which seen task's statistics each task was denormalized with: the report's neighbour
  # baseline for unseen tasks (an unseen task's generated adapters sit near that task's).
  with open(os.path.join(workdir, STATS_OF), "w") as f:
    json.dump({name: prep.stats_of[name] for name in names}, f, indent=1)
  if not names:
    return
  n = config.generate.num_models
  stats_of = lambda name: jnp.int32(prep.seen.index(prep.stats_of[name]))
  size, run = generation_plan(prep, *generator, prep.conditions[names[0]], stats_of(names[0]),
                              key)
  chunks = range(0, n, size)
  bar = progress_bar(len(names), 0, f"generate {n} models per task"
                     + (f", {size} at a time (memory.budget_gb)" if size < n else ""))
  try:
    for i, name in enumerate(names):
      task_key = jax.random.fold_in(key, i)
      # One chunk draws from the task's key; several draw chunk c from fold_in(task key, c).
      keys = ([task_key] if len(chunks) == 1
              else [jax.random.fold_in(task_key, c) for c in range(len(chunks))])
      parts = [run(*generator, prep.conditions[name], stats_of(name), k) for k in keys]
      common.save_generated(workdir, name, jax.tree_util.tree_map(
          lambda *a: jnp.concatenate(a)[:n], *parts))
      bar.update(1)
  finally:
    bar.close()


def evaluate(config: Any, workdir: str) -> None:
  generated = common.load_generated(workdir)
  stats_of = os.path.join(workdir, STATS_OF)
  neighbours = json.load(open(stats_of)) if os.path.exists(stats_of) else None
  report = zoo_method.report_on_zoo(config, workdir, "pdiff", generated=generated,
                                    select_split=config.generate.select_split,
                                    neighbours=neighbours)
  selection = report.get("selection", {})
  for split in ("seen", "unseen"):
    s = selection.get(split)
    if s:
      print(f"{split} ({s['tasks']} tasks): generated {s['generated_selected']:.2f}% "
            f"(selected on {config.generate.select_split}), original "
            f"{s['original_selected']:.2f}%, soup {s['soup']:.2f}%"
            + (f", nearest seen task's checkpoints {s['neighbour_selected']:.2f}%"
               if "neighbour_selected" in s else ""))
