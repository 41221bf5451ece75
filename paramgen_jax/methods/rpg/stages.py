"""RPG (recurrent diffusion for large-scale parameter generation): the pipeline stages.

  collect -> zoo/                    the zoo of the config's zoo sections (`zoo.spec`)
  train   -> checkpoints/, metrics   the generator's training (`core.train`; resumes)
             generator/              the trained generator (`core.save`: network, codec, config)
  sample  -> generated/<task>/       `generate.num_models` models per target task
             inference.json          one model's generation cost
  eval    -> report.json, report.md, similarity.png

Target tasks: the seen tasks of an unconditional run (one model family, e.g. the full digits
task), or the unseen tasks when the generator is conditioned on each task's condition: its
bit vector ('bits') or the MiniLM embedding of its first text description ('text').
`sample` reads only generator/ and the zoo's task list, never the zoo's checkpoints.
"""

from __future__ import annotations

import functools
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from paramgen_jax import artifact, memory, runfiles
from paramgen_jax import configlib as C
from paramgen_jax.artifact import config_json
from paramgen_jax.eval.baselines import nearest_seen_task
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.methods.rpg import core
from paramgen_jax.methods.rpg.model import INFERENCE_MODES
from paramgen_jax.nn.position import POSITION_KINDS
from paramgen_jax.nn.sequence import BACKBONES
from paramgen_jax.nn.unet1d import CONDITIONING
from paramgen_jax.params.codec import TOKEN_NORMALIZATIONS
from paramgen_jax.params.layout import ParamLayout
from paramgen_jax.params.tokens import make_token_layout
from paramgen_jax.zoo import conditions as zoo_conditions
from paramgen_jax.zoo import spec

SCHEMA = {
    "method": C.one_of("rpg"),
    **spec.ZOO_SCHEMA,
    "tokens": {"size": C.integer(1), "granularity": C.one_of("layer", "model", "channel"),
               "normalization": C.one_of(*TOKEN_NORMALIZATIONS)},
    "generator": {
        "d_model": C.integer(1), "prototype_dim": C.integer(1), "prototype_hidden": C.integer(0),
        "backbone": C.one_of(*BACKBONES), "backbone_options": C.Field((Mapping,)),
        "position": C.one_of(*POSITION_KINDS),
        "permutation": C.one_of("checkpoint", "seed", "none"),
        "condition": C.one_of("none", "bits", "text"),
        "unet_encoder": C.sequence(int, 1, minimum=1),
        "unet_decoder": C.sequence(int, 0, minimum=1),
        "denoiser_conditioning": C.one_of(*CONDITIONING),
        "diffusion_batch": C.integer(1),
        # 'ridge': the tokens encode what a ridge regression from the condition misses
        "residual": C.one_of("none", "ridge"),
        "ridge_lambda": C.real(0.0, exclusive_min=True),
    },
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "generate": {"num_models": C.integer(1), "mode": C.one_of(*INFERENCE_MODES),
                 "chunk": C.integer(1)},
    "mesh": C.MESH_FIELD,
}


def validate(config: Any) -> None:
  """The zoo's checks, and conditions only where RPG supports them."""
  spec.validate_zoo(spec.zoo_sections(config))
  g = config.generator
  C.require(g.condition == "none" or config.tasks.kind == "binary", "generator.condition",
            "'bits' and 'text' need tasks.kind = 'binary'")
  C.require(g.residual == "none" or g.condition != "none", "generator.residual",
            "'ridge' regresses the weights on the condition: it needs generator.condition")
  C.require(g.condition == "none" or g.permutation == "none", "generator.permutation",
            "must be 'none' for conditional runs (RPG's recipe for unseen tasks has no "
            "permutation states)")


def task_conditions(tasks: Sequence[Any], kind: str) -> dict[str, np.ndarray]:
  """Task name -> condition vector: 'bits' (10,) or 'text' (384,), one MiniLM batch."""
  vectors = (zoo_conditions.bit_conditions(tasks) if kind == "bits"
             else zoo_conditions.text_conditions(tasks, with_examples=False))
  return {task.name: v for task, v in zip(tasks, vectors)}


def _tasks_in_manifest(config: Any, workdir: str, split: str) -> list:
  """The zoo's tasks of `split`, in manifest order (which fixes each task's key)."""
  by_name = spec.build_zoo_inputs(spec.zoo_sections(config), workdir).by_name
  return [by_name[name] for name, s in spec.manifest_splits(workdir).items() if s == split]


def collect(config: Any, workdir: str) -> None:
  """Collects the zoo of the config's zoo sections (resumable)."""
  spec.collect_zoo_from_config(spec.zoo_sections(config), workdir)


def train(config: Any, workdir: str) -> None:
  """Trains the generator on the seen checkpoints (resuming from workdir's checkpoints) and
  saves it to workdir/generator."""
  zoo = spec.zoo_sections(config)
  inputs = spec.build_zoo_inputs(zoo, workdir)
  rows, stacked = spec.load_checked_zoo(zoo, workdir, split="seen", inputs=inputs)
  conditions = None
  if config.generator.condition != "none":
    seen = [inputs.by_name[name] for name in dict.fromkeys(r["task"] for r in rows)]
    by_task = task_conditions(seen, config.generator.condition)
    conditions = np.stack([by_task[r["task"]] for r in rows])
  layout = ParamLayout.from_template(jax.tree_util.tree_map(lambda leaf: leaf[0], stacked))
  tokens = make_token_layout(layout, config.tokens.size, config.tokens.granularity).num_tokens
  print(f"RPG: {len(rows)} checkpoints, {layout.num_params:,} parameters in {tokens} tokens "
        f"of {config.tokens.size}")
  generator = core.train(stacked, config, conditions=conditions, workdir=workdir,
                         seeds=[r["seed"] for r in rows])
  core.save(generator, runfiles.generator_dir(workdir))


def sample(config: Any, workdir: str) -> None:
  """`generate.num_models` models per target task into generated/<task>/; task i draws
  with fold_in(sample key, i)."""
  generator = artifact.with_run_sections(core.load(runfiles.generator_dir(workdir)), config)
  if config.generator.condition == "none":
    targets = {t.name: None for t in _tasks_in_manifest(config, workdir, "seen")}
  else:
    targets = task_conditions(_tasks_in_manifest(config, workdir, "unseen"),
                              config.generator.condition)
  if not targets:
    return
  n, budget = config.generate.num_models, memory.budget_bytes(config.get("memory"))
  key = jax.random.key(config.sample.seed)
  # On several devices each samples a share of the tokens (`token_parallel`): the models of
  # one device up to float32 rounding, the sampler's temporaries split between devices.
  # This process's devices: in a run over several processes, process 0 samples alone.
  mesh = memory.device_mesh()
  generate = core.generate if mesh is None else functools.partial(core.generate, mesh=mesh)

  def make(task, task_key):
    return memory.generate_within_budget(
        generate, generator, task_key, _per_model(targets[task], n), n, budget,
        what="RPG generation of one model (generate.num_models)")
  runfiles.generate_for_tasks(workdir, list(targets), n, make, key)
  runfiles.record_inference_cost(
      workdir, core.generate, generator, key, _per_model(next(iter(targets.values())), 1),
      runfiles.timing_repeats(config.generate), trained=generator.params)


def _per_model(condition: np.ndarray | None, count: int) -> np.ndarray | None:
  """A task's condition (C,) repeated for `count` models: (count, C); None stays None."""
  return None if condition is None else np.repeat(condition[None], count, axis=0)


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated models against the zoo: report.json, report.md, similarity.png;
  a conditional run's report also has the nearest seen task and the baselines fitted on the
  seen tasks' weights (`eval.fitted`)."""
  conditional, found = config.generator.condition != "none", {}

  def conditions(zoo):  # one MiniLM pass for both uses
    if not found:
      tasks = [zoo.inputs.by_name[n] for n in zoo.tasks("seen") + zoo.tasks("unseen")]
      found.update(task_conditions(tasks, config.generator.condition))
    return found

  evaluate_generated(
      spec.zoo_sections(config), workdir, "rpg", run_config=config_json(config),
      generated=runfiles.load_generated(workdir),
      task_baselines=(lambda zoo: {"nearest seen task": nearest_seen_task(zoo, conditions(zoo))})
      if conditional else None,
      conditions=conditions if conditional else None)
