"""Transitional: the names methods imported from here, now in `train.recipe` (what core.py
needs) and `runfiles` (what stages write). Removed once no method imports it."""

from paramgen_jax import diffusion, memory  # noqa: F401
from paramgen_jax.runfiles import (cached_vectors, compiled_cost, load_generated,  # noqa: F401
                                   save_generated)
from paramgen_jax.train import recipe
from paramgen_jax.train.recipe import random_rows  # noqa: F401
import os
import jax
import jax.numpy as jnp


def schedule_from_config(cfg):
  return recipe.schedule_from_section(cfg)


def sampler_kwargs(config):
  return recipe.sampler_kwargs(config.sample, config.diffusion.prediction)


class _State:
  def __init__(self, params):
    self.params = params

  def eval_params(self):
    return self.params


def train_generator(train_cfg, config, *, init_params, loss_fn, batch_fn, workdir, desc):
  return _State(recipe.train_generator(train_cfg, config.get("mesh"), init_params=init_params,
                                       loss_fn=loss_fn, batch_fn=batch_fn, workdir=workdir,
                                       desc=desc))


def load_trained_params(config, workdir, init_params, train_cfg=None):
  return recipe.load_trained_params(config.train if train_cfg is None else train_cfg, workdir,
                                    init_params)


def generate_in_chunks(make, count, per_call):
  parts = [make(first) for first in range(0, count, per_call)]
  return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a)[:count], *parts)


def chunk_key(task_key, first, per_call, total):
  return task_key if per_call >= total else jax.random.fold_in(task_key, first // per_call)


def generate_for_tasks(workdir, tasks, num_models, per_call, make, key):
  from paramgen_jax.runfiles import generate_for_tasks as run
  run(workdir, tasks, num_models,
      lambda task, task_key: generate_in_chunks(lambda first: make(task, task_key, first),
                                                num_models, per_call), key)


def timing_repeats(config):
  return int(config.generate.get("timing_repeats", 3))


def record_inference_cost(workdir, fn, args, trained, repeats):
  from paramgen_jax.integrity import atomic_write_json
  import numpy as np
  from paramgen_jax.runfiles import INFERENCE
  cost = compiled_cost(fn, args, repeats)
  found = {"compile_s": cost["compile_s"], "seconds_per_model": cost["seconds"],
           "repeats": repeats, "memory_bytes": cost["memory_bytes"],
           "memory_plan": cost["memory_plan"],
           "generator_params": int(sum(np.size(x) for x in jax.tree_util.tree_leaves(trained)))}
  atomic_write_json(os.path.join(workdir, INFERENCE), found)
  return found


def codec_dir(workdir):
  return os.path.join(workdir, "codec")
