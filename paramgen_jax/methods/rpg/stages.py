"""RPG (recurrent diffusion for large-scale parameter generation): the pipeline stages.

  collect -> zoo/                    the zoo of the config's zoo sections (`zoo.spec`)
  train   -> codec/                  the parameter codec fitted on the seen checkpoints
             generator.json          the generator's shape (permutation states, condition)
             checkpoints/, metrics   the generator (`core.train`)
  sample  -> generated/<task>/       `generate.num_models` models per target task
  eval    -> report.json, report.md, similarity.png

Target tasks: the seen tasks of an unconditional run (one model family, e.g. the full digits
task), or the unseen tasks when the generator is conditioned on each task's condition: its
bit vector ('bits') or the MiniLM embedding of its first text description ('text').
`sample` reads only the codec, generator.json, the checkpoints and the zoo's task list.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import jax
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import stage_helpers as H
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.integrity import atomic_write_json, read_json
from paramgen_jax.methods.rpg import core
from paramgen_jax.methods.rpg.model import INFERENCE_MODES
from paramgen_jax.nn.position import POSITION_KINDS
from paramgen_jax.nn.sequence import BACKBONES
from paramgen_jax.nn.unet1d import CONDITIONING
from paramgen_jax.params.codec import TokenCodec, load_codec, save_codec
from paramgen_jax.zoo import conditions as zoo_conditions
from paramgen_jax.zoo import spec

SCHEMA = {
    "method": C.one_of("rpg"),
    **spec.ZOO_SCHEMA,
    "tokens": {"size": C.integer(1), "granularity": C.one_of("layer", "model", "channel")},
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
    },
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "generate": {"num_models": C.integer(1), "mode": C.one_of(*INFERENCE_MODES),
                 "chunk": C.integer(1)},
    "mesh": C.MESH_FIELD,
}
SHAPE_FILE = "generator.json"


def validate(config: Any) -> None:
  """The zoo's checks, and conditions only where RPG supports them."""
  spec.validate_zoo(config)
  g = config.generator
  C.require(g.condition == "none" or config.tasks.kind == "binary", "generator.condition",
            "'bits' and 'text' need tasks.kind = 'binary'")
  C.require(g.condition == "none" or g.permutation == "none", "generator.permutation",
            "must be 'none' for conditional runs (RPG switches permutation states off)")


def task_conditions(tasks: Sequence[Any], kind: str) -> dict[str, np.ndarray]:
  """Task name -> condition vector: 'bits' (10,) or 'text' (384,), one MiniLM batch."""
  vectors = (zoo_conditions.bit_conditions(tasks) if kind == "bits"
             else zoo_conditions.text_conditions(tasks, with_examples=False))
  return {task.name: v for task, v in zip(tasks, vectors)}


def _tasks_in_manifest(config: Any, workdir: str, split: str) -> list:
  """The zoo's tasks of `split`, in manifest order (which fixes each task's key)."""
  by_name = spec.build_zoo_inputs(config, workdir).by_name
  return [by_name[name] for name, s in spec.manifest_splits(workdir).items() if s == split]


def collect(config: Any, workdir: str) -> None:
  """Collects the zoo of the config's zoo sections (resumable)."""
  spec.collect_zoo_from_config(config, workdir)


def train(config: Any, workdir: str) -> None:
  """Fits the codec on the seen checkpoints (saved in codec/), then trains the generator."""
  inputs = spec.build_zoo_inputs(config, workdir)
  rows, stacked = spec.load_checked_zoo(config, workdir, split="seen", inputs=inputs)
  codec = TokenCodec.fit(stacked, token_size=config.tokens.size,
                         granularity=config.tokens.granularity)
  save_codec(codec, H.codec_dir(workdir))
  conditions = None
  if config.generator.condition != "none":
    seen = [inputs.by_name[name] for name in dict.fromkeys(r["task"] for r in rows)]
    by_task = task_conditions(seen, config.generator.condition)
    conditions = np.stack([by_task[r["task"]] for r in rows])
  print(f"RPG: {len(rows)} checkpoints, {codec.layout.num_params:,} parameters in "
        f"{codec.plan.num_tokens} tokens of {config.tokens.size}")
  generator = core.train(stacked, config, conditions=conditions,
                         seeds=[r["seed"] for r in rows], codec=codec, workdir=workdir)
  atomic_write_json(os.path.join(workdir, SHAPE_FILE), {
      "num_permutations": generator.num_permutations,
      "condition_dim": generator.condition_dim})


def load_generator(config: Any, workdir: str) -> core.Generator:
  """The generator `train` left in `workdir`: codec, shape and latest checkpoint."""
  codec = load_codec(H.codec_dir(workdir))
  path = os.path.join(workdir, SHAPE_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {path}: run --mode=train first")
  shape = read_json(path, "generator shape file")
  params, _ = H.load_trained_params(config, workdir, core.init_fn(
      config, codec, shape["num_permutations"], shape["condition_dim"]))
  return core.Generator(params, codec, config, shape["num_permutations"],
                        shape["condition_dim"])


def sample(config: Any, workdir: str) -> None:
  """`generate.num_models` models per target task into generated/<task>/."""
  generator = load_generator(config, workdir)
  if config.generator.condition == "none":
    targets = {t.name: None for t in _tasks_in_manifest(config, workdir, "seen")}
  else:
    targets = task_conditions(_tasks_in_manifest(config, workdir, "unseen"),
                              config.generator.condition)
  if not targets:
    return
  key = jax.random.key(config.sample.seed)
  size, run = core.generation_plan(generator, next(iter(targets.values())), key)
  H.generate_for_tasks(
      workdir, list(targets), config.generate.num_models, size,
      lambda task, task_key, first: run(generator.params, targets[task], task_key,
                                        np.int32(first)), key)
  one = lambda p, c, k, first: core.generate(generator._replace(params=p), k, c, num_models=1,
                                             first=first)
  H.record_inference_cost(workdir, one, (generator.params, next(iter(targets.values())), key,
                                         np.int32(0)), generator.params, H.timing_repeats(config))


def evaluate(config: Any, workdir: str) -> None:
  """Scores the generated models against the zoo: report.json, report.md, similarity.png."""
  evaluate_generated(config, workdir, "rpg", generated=H.load_generated(workdir))
