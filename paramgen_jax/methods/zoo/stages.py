"""Zoo-only pipeline: collect a checkpoint zoo and report on it (no generator).

  collect -> zoo/ (Orbax units + manifest.jsonl + zoo.json), base/ for LoRA zoos
  eval    -> report.json, report.md, similarity.png: originals and baselines, with empty
             generated fields. `train` and `sample` have nothing to do here.

The zoo library itself is `paramgen_jax.zoo.spec`; the evaluation `paramgen_jax.eval`.
"""

from __future__ import annotations

from typing import Any

from paramgen_jax import configlib as C
from paramgen_jax.artifact import config_json
from paramgen_jax.eval.entry import evaluate_generated
from paramgen_jax.zoo import spec

SCHEMA = {"method": C.one_of("zoo"), **spec.ZOO_SCHEMA, "mesh": C.MESH_FIELD}


def validate(config: Any) -> None:
  """The zoo sections' cross-field checks."""
  spec.validate_zoo(spec.zoo_sections(config))


def collect(config: Any, workdir: str) -> None:
  """Collects (or completes) the zoo; resumable unit by unit."""
  spec.collect_zoo_from_config(spec.zoo_sections(config), workdir)


def train(config: Any, workdir: str) -> None:
  """Nothing to train."""
  print("zoo config: nothing to train (collect and eval only)")


def sample(config: Any, workdir: str) -> None:
  """Nothing to sample."""
  print("zoo config: nothing to sample (collect and eval only)")


def evaluate(config: Any, workdir: str) -> None:
  """Reports on the originals and the baselines."""
  evaluate_generated(spec.zoo_sections(config), workdir, "zoo",
                     run_config=config_json(config))
