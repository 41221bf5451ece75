"""RPG (recurrent diffusion for large-scale parameter generation): the pipeline stages.

  collect -> zoo/                    the zoo of the config's zoo sections (`methods.zoo`)
  train   -> checkpoints/, metrics   the generator on the zoo's seen checkpoints
  sample  -> generated/<task>/       `generate.num_models` models per target task
  eval    -> report.json, report.md, similarity.png

Target tasks: the seen tasks of an unconditional run (one model family, e.g. the full digits
task), or the unseen tasks when the generator is conditioned on each task's condition: its
bit vector ('bits') or the MiniLM embedding of its first text description ('text').
The generator itself is in `model.py`.
"""

from __future__ import annotations

from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import memory
from paramgen_jax import params as P
from paramgen_jax.methods import common
from paramgen_jax.methods import zoo as zoo_method
from paramgen_jax.methods.rpg.model import INFERENCE_MODES, RPGGenerator, rpg_loss, sample_tokens
from paramgen_jax.nn.position import POSITION_KINDS
from paramgen_jax.nn.sequence import BACKBONES
from paramgen_jax.train import fit
from paramgen_jax.train.metrics import progress_bar
from paramgen_jax.zoo import store

SCHEMA = {
    "method": C.one_of("rpg"),
    **zoo_method.ZOO_SCHEMA,
    "tokens": {"size": C.integer(1), "granularity": C.one_of("layer", "model", "channel")},
    "generator": {
        "d_model": C.integer(1), "prototype_dim": C.integer(1), "prototype_hidden": C.integer(0),
        "backbone": C.one_of(*BACKBONES), "backbone_options": C.Field((Mapping,)),
        "position": C.one_of(*POSITION_KINDS),
        "permutation": C.one_of("checkpoint", "seed", "none"),
        "condition": C.one_of("none", "bits", "text"),
        "unet_encoder": C.sequence(int, 1, minimum=1),
        "unet_decoder": C.sequence(int, 0, minimum=1),
        "diffusion_batch": C.integer(1),
    },
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "generate": {"num_models": C.integer(1), "mode": C.one_of(*INFERENCE_MODES),
                 "chunk": C.integer(1)},
    "mesh": C.MESH_FIELD,
}


def validate(config: Any) -> None:
  zoo_method.validate(config)
  g = config.generator
  C.require(g.condition == "none" or config.tasks.kind == "binary", "generator.condition",
            "'bits' and 'text' need tasks.kind = 'binary'")
  C.require(g.condition == "none" or g.permutation == "none", "generator.permutation",
            "must be 'none' for conditional runs (RPG switches permutation states off)")


def task_conditions(rows: list[dict], kind: str) -> dict[str, np.ndarray]:
  """Task name -> condition vector, for the tasks of manifest rows: 'bits' (10,) or 'text'."""
  first = {}
  for r in rows:
    first.setdefault(r["task"], r["condition"])
  if kind == "bits":
    return {name: np.asarray(c["bits"], np.float32) for name, c in first.items()}
  from paramgen_jax.text import TextEncoder  # loads the MiniLM weights only when asked for
  vectors = TextEncoder()([c["descriptions"][0] for c in first.values()])
  return dict(zip(first, vectors))


class Prepared:
  """Everything the stages derive from the zoo: layout, token plan, statistics, arrays."""

  def __init__(self, config: Any, workdir: str):
    self.config = config
    rows, stacked = zoo_method.load_checked_zoo(config, workdir, split="seen")
    self.rows = rows
    template = jax.tree_util.tree_map(lambda a: a[0], stacked)
    self.layout = P.ParamLayout.from_template(template)
    self.plan = P.make_token_layout(self.layout, config.tokens.size, config.tokens.granularity)
    vectors = jax.vmap(self.layout.to_vector)(stacked)
    self.stats = P.fit_layer_stats(vectors, self.layout)
    normalized = jax.vmap(lambda v: P.normalize_layers(v, self.stats, self.layout))(vectors)
    self.tokens = np.asarray(jax.vmap(lambda v: P.tokenize(v, self.plan))(normalized))
    g = config.generator
    if g.permutation == "checkpoint":
      self.permutation = np.arange(len(rows), dtype=np.int32)
    elif g.permutation == "seed":
      seeds = sorted({r["seed"] for r in rows})
      self.permutation = np.asarray([seeds.index(r["seed"]) for r in rows], np.int32)
    else:
      self.permutation = None
    self.num_permutations = 0 if self.permutation is None else int(self.permutation.max()) + 1
    if g.condition == "none":
      self.condition = None
    else:
      by_task = task_conditions(rows, g.condition)
      self.condition = np.stack([by_task[r["task"]] for r in rows])

  def model(self) -> RPGGenerator:
    g = self.config.generator
    return RPGGenerator(
        token_size=self.config.tokens.size, d_model=g.d_model, prototype_dim=g.prototype_dim,
        prototype_hidden=g.prototype_hidden,
        backbone=g.backbone, backbone_options=dict(g.backbone_options), position=g.position,
        num_permutations=self.num_permutations,
        condition_dim=0 if self.condition is None else self.condition.shape[1],
        unet_encoder=tuple(g.unet_encoder), unet_decoder=tuple(g.unet_decoder))

  def coordinates(self):
    return jnp.asarray(self.plan.layer_index), jnp.asarray(self.plan.token_in_layer)

  def init_fn(self):
    model, (layer, token) = self.model(), self.coordinates()
    perm = None if self.permutation is None else jnp.zeros((1,), jnp.int32)
    cond = None if self.condition is None else jnp.zeros((1, self.condition.shape[1]))

    def init(key):
      return model.init(key, layer, token, perm, cond, jnp.zeros((1, self.config.tokens.size)),
                        jnp.zeros((1,), jnp.int32))
    return init


def collect(config: Any, workdir: str) -> None:
  zoo_method.collect(config, workdir)


def train(config: Any, workdir: str) -> None:
  prep = Prepared(config, workdir)
  model, schedule = prep.model(), common.schedule_from_config(config.diffusion)
  layer, token = prep.coordinates()
  mask = jnp.asarray(prep.plan.mask)
  batch_size, data_key = config.train.batch_size, jax.random.key(config.train.seed + 1)

  def batch_fn(step):
    pick = np.asarray(jax.random.randint(jax.random.fold_in(data_key, step), (batch_size,), 0,
                                         len(prep.rows)))
    batch = {"tokens": prep.tokens[pick]}
    if prep.permutation is not None:
      batch["permutation"] = prep.permutation[pick]
    if prep.condition is not None:
      batch["condition"] = prep.condition[pick]
    return batch

  def loss_fn(params, batch, rng):
    full = dict(batch, mask=mask, layer_index=layer, token_in_layer=token)
    return rpg_loss(model, params, full, rng, schedule,
                    diffusion_batch=config.generator.diffusion_batch,
                    prediction=config.diffusion.prediction)

  print(f"RPG: {len(prep.rows)} checkpoints, {prep.layout.num_params:,} parameters in "
        f"{prep.plan.num_tokens} tokens of {config.tokens.size}")
  fit(config.train, init_params=prep.init_fn(), loss_fn=loss_fn, batch_fn=batch_fn,
      workdir=workdir, key=jax.random.key(config.train.seed),
      mesh=common.mesh_from_config(config), desc="train rpg")


def _target_tasks(prep: Prepared, workdir: str) -> dict[str, np.ndarray | None]:
  """Task name -> condition vector (None when unconditional)."""
  if prep.condition is None:
    return {name: None for name in dict.fromkeys(r["task"] for r in prep.rows)}
  unseen = [r for r in store.read_manifest(zoo_method.zoo_dir(workdir)) if r["split"] == "unseen"]
  return task_conditions(unseen, prep.config.generator.condition)


def generate(prep: Prepared, params: Any, condition: np.ndarray | None, key: jax.Array, *,
             num_models: int | None = None, first: int | jax.Array = 0) -> Any:
  """Models first .. first + num_models - 1 of a task's `generate.num_models` (default: all),
  stacked (num_models, ...).

  Model m is the same whichever chunk makes it: its permutation state and token keys depend
  on `key` and m only. Traceable (jit it; `first` may be traced). Models past the last one
  are well defined; `sample` drops them.
  """
  config, model = prep.config, prep.model()
  n = config.generate.num_models if num_models is None else num_models
  layer, token = prep.coordinates()
  perm_key, token_key = jax.random.split(key)
  perm = (None if prep.permutation is None else jnp.take(
      jax.random.randint(perm_key, (config.generate.num_models,), 0, prep.num_permutations),
      first + jnp.arange(n), mode="clip"))
  cond = (None if condition is None
          else jnp.broadcast_to(jnp.asarray(condition), (n,) + condition.shape))
  proto = model.apply(params, layer, token, perm, cond, method=RPGGenerator.prototypes)
  tokens = sample_tokens(model, params, proto.reshape(-1, proto.shape[-1]), token_key,
                         common.schedule_from_config(config.diffusion), mode=config.generate.mode,
                         chunk=config.generate.chunk, first=first * prep.plan.num_tokens,
                         **common.sampler_kwargs(config))
  tokens = tokens.reshape(n, prep.plan.num_tokens, config.tokens.size)
  vectors = jax.vmap(lambda t: P.denormalize_layers(P.detokenize(t, prep.plan), prep.stats,
                                                    prep.layout))(tokens)
  return jax.vmap(prep.layout.from_vector)(vectors)


def generation_plan(prep: Prepared, params: Any, condition: np.ndarray | None,
                    key: jax.Array) -> tuple[int, Any]:
  """(models per call, compiled `generate` of that many): as many models as fit the config's
  memory budget (XLA's planned temporary memory), all of them when they fit.

  The compiled function takes (params, condition, key, first); params may be abstract
  (`jax.ShapeDtypeStruct`s) for planning alone.
  """
  return memory.plan_count(
      lambda m: lambda p, c, k, first: generate(prep, p, c, k, num_models=m, first=first),
      (params, condition, key, np.int32(0)), prep.config.generate.num_models,
      memory.budget_bytes(prep.config), what="RPG generation of one model (generate.num_models)")


def sample(config: Any, workdir: str) -> None:
  prep = Prepared(config, workdir)
  params, _ = common.load_trained_params(config, workdir, prep.init_fn())
  key = jax.random.key(config.sample.seed)
  targets = _target_tasks(prep, workdir)
  if not targets:
    return
  n = config.generate.num_models
  size, run = generation_plan(prep, params, next(iter(targets.values())), key)
  bar = progress_bar(len(targets), 0, f"generate {n} models per task"
                     + (f", {size} at a time (memory.budget_gb)" if size < n else ""))
  try:
    for i, (task, condition) in enumerate(targets.items()):
      task_key = jax.random.fold_in(key, i)
      parts = [run(params, condition, task_key, np.int32(first)) for first in range(0, n, size)]
      common.save_generated(workdir, task, jax.tree_util.tree_map(
          lambda *a: jnp.concatenate(a)[:n], *parts))
      bar.update(1)
  finally:
    bar.close()


def evaluate(config: Any, workdir: str) -> None:
  zoo_method.report_on_zoo(config, workdir, "rpg", generated=common.load_generated(workdir))
