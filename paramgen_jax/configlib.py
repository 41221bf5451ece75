"""Config checking: every key known, every type right, every value possible.

Configs are pure data (`ml_collections.ConfigDict`). A method declares the schema of its
config with `Field`s and nested dicts; `check_config` walks both and raises `ConfigError`
with one line naming the key:

    config.train.steps: must be >= 1, got 0
    config.train.stepz: unknown key (known: b1, b2, batch_size, ...)

It also holds what config files are built from (`train_section`, preset tables of dotted-key
overrides applied by `build`) and the one loader of config files, `load_config`, which the
launcher, the leaderboard, the tests and the benches share.

This module imports no JAX, so config files and the launcher can use it cheaply.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import math
import os
from typing import Any, Callable, Mapping

import ml_collections

# The config files: configs/ of the checkout, installed as the package paramgen_jax.configs.
CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


class ConfigError(ValueError):
  """A config is wrong; the message is one line that names the key."""


class UnknownPresetError(ConfigError):
  """A preset the config file does not have; `known` holds the names it has."""

  def __init__(self, name: str, known: tuple[str, ...]):
    super().__init__(f"config preset {name!r} is unknown: use one of {', '.join(known)}")
    self.known = tuple(known)


@dataclasses.dataclass(frozen=True)
class Field:
  """A leaf of a schema: accepted types, an optional check and what the check requires."""
  types: tuple[type, ...]
  check: Callable[[Any], bool] | None = None
  requirement: str = ""
  optional: bool = False  # None is accepted


@dataclasses.dataclass(frozen=True)
class OptionalSection:
  """A section that a config may leave out (or set to None); checked when present."""
  schema: Mapping[str, Any]


def optional_section(schema: Mapping[str, Any]) -> OptionalSection:
  return OptionalSection(schema)


def _type_ok(value: Any, types: tuple[type, ...]) -> bool:
  if isinstance(value, bool):  # bool is an int subclass: accept it only where asked for
    return bool in types
  if isinstance(value, int) and float in types:
    return True
  return isinstance(value, types)


def integer(minimum: int | None = None, maximum: int | None = None) -> Field:
  return _ranged((int,), "an integer", minimum, maximum)


def real(minimum: float | None = None, maximum: float | None = None, *,
         exclusive_min: bool = False, exclusive_max: bool = False) -> Field:
  return _ranged((float,), "a number", minimum, maximum, exclusive_min, exclusive_max)


def _ranged(types, noun, minimum, maximum, exclusive_min=False, exclusive_max=False) -> Field:
  def check(v):
    if minimum is not None and (v <= minimum if exclusive_min else v < minimum):
      return False
    if maximum is not None and (v >= maximum if exclusive_max else v > maximum):
      return False
    return True
  parts = []
  if minimum is not None:
    parts.append(f"{'>' if exclusive_min else '>='} {minimum}")
  if maximum is not None:
    parts.append(f"{'<' if exclusive_max else '<='} {maximum}")
  return Field(types, check, f"must be {' and '.join(parts)}" if parts else f"must be {noun}")


def one_of(*choices: Any) -> Field:
  return Field(tuple({type(c) for c in choices}), lambda v: v in choices,
               f"must be one of {', '.join(repr(c) for c in choices)}")


def boolean() -> Field:
  return Field((bool,))


def string() -> Field:
  return Field((str,))


def sequence(of: type, min_len: int = 0, minimum: float | None = None) -> Field:
  """A list of `of` with at least `min_len` entries, each >= `minimum` when given."""
  def check(v):
    return len(v) >= min_len and all(_type_ok(x, (of,)) and (minimum is None or x >= minimum)
                                     for x in v)
  each = "" if minimum is None else f", each >= {minimum}"
  return Field((tuple, list), check, f"must be a list of {of.__name__} with at least "
                                     f"{min_len} entries{each}")


def mapping_of(value_type: type) -> Field:
  """A free-form dict section whose values have one type (e.g. the mesh axes)."""
  def check(v):
    return all(isinstance(k, str) and _type_ok(x, (value_type,)) for k, x in v.items())
  return Field((Mapping,), check, f"must map names to {value_type.__name__}")


def _as_mapping(value: Any) -> Mapping | None:
  if isinstance(value, Mapping):
    return value
  to_dict = getattr(value, "to_dict", None)
  return to_dict() if callable(to_dict) else None


def check_finite(value: Any, name: str = "config") -> None:
  """Raises ConfigError naming the first NaN or infinite number anywhere in `value`."""
  if isinstance(value, float) and not math.isfinite(value):
    raise ConfigError(f"{name}: must be a finite number, got {value!r}")
  mapping = _as_mapping(value) if not isinstance(value, (str, bytes)) else None
  if mapping is not None:
    for key, item in mapping.items():
      check_finite(item, f"{name}.{key}")
  elif isinstance(value, (tuple, list)):
    for i, item in enumerate(value):
      check_finite(item, f"{name}[{i}]")


def check_config(config: Any, schema: Mapping[str, Any], prefix: str = "config") -> None:
  """Raises ConfigError on the first unknown key, missing key, wrong type or bad value."""
  if prefix == "config":
    check_finite(config)
  values = _as_mapping(config)
  if values is None:
    raise ConfigError(f"{prefix}: must be a section (dict), got {type(config).__name__}")
  for key in values:
    if key not in schema:
      raise ConfigError(f"{prefix}.{key}: unknown key (known: {', '.join(sorted(schema))})")
  for key, spec in schema.items():
    name = f"{prefix}.{key}"
    if isinstance(spec, OptionalSection):
      if values.get(key) is not None:
        check_config(values[key], spec.schema, name)
      continue
    if key not in values:
      raise ConfigError(f"{name}: missing")
    value = values[key]
    if isinstance(spec, Mapping):
      check_config(value, spec, name)
      continue
    if value is None and spec.optional:
      continue
    if isinstance(spec.types[0], type) and issubclass(spec.types[0], Mapping):
      value = _as_mapping(value)
      if value is None:
        raise ConfigError(f"{name}: must be a section (dict)")
    elif not _type_ok(value, spec.types):
      expected = " or ".join(t.__name__ for t in spec.types)
      raise ConfigError(f"{name}: must be of type {expected}, got {value!r} "
                        f"({type(value).__name__})")
    if spec.check is not None and not spec.check(value):
      raise ConfigError(f"{name}: {spec.requirement}, got {value!r}")


def preset(arg: str | None, presets: tuple[str, ...] = ("smoke", "default")) -> str:
  """The preset a config file is asked for (`configs/x.py:smoke`); no argument -> 'default'."""
  name = arg or "default"
  if name not in presets:
    raise UnknownPresetError(name, presets)
  return name


def require(condition: bool, key: str, message: str) -> None:
  """A cross-field check: raises `ConfigError('config.<key>: <message>')` if false."""
  if not condition:
    raise ConfigError(f"config.{key}: {message}")


# -- schemas of the sections every generator shares -------------------------------------

TRAIN_SCHEMA = {
    "steps": integer(1),
    "batch_size": integer(1),
    "lr": real(0.0, exclusive_min=True),
    "warmup_steps": integer(0),
    "final_lr_ratio": real(0.0, 1.0),
    "weight_decay": real(0.0),
    "b1": real(0.0, 1.0, exclusive_max=True),
    "b2": real(0.0, 1.0, exclusive_max=True),
    "clip_norm": real(0.0),
    "ema_decay": real(0.0, 1.0, exclusive_max=True),
    "compute_dtype": one_of("float32", "bfloat16"),
    "log_every": integer(1),
    "checkpoint_every": integer(1),
    "keep_checkpoints": integer(1),
    "seed": integer(0),
    # Leaves of the train state with at least this many elements are split over the
    # mesh's 'data' axis, smaller ones replicated (`paramgen_jax.train.sharding`).
    "fsdp_min_size": integer(0),
}

DIFFUSION_SCHEMA = {
    "schedule": one_of("linear", "cosine"),
    "timesteps": integer(1),
    "beta_start": real(0.0, 1.0, exclusive_min=True, exclusive_max=True),
    "beta_end": real(0.0, 1.0, exclusive_min=True, exclusive_max=True),
    "prediction": one_of("eps", "v", "x0"),
}

# Smoke presets' short-training baselines (`eval.train_steps`, `eval.finetune_steps`): two
# steps show the baseline works without the 100 steps of the default.
SMOKE_EVAL = {"eval.train_steps": (1, 2), "eval.finetune_steps": 2}

SAMPLE_SCHEMA = {
    "sampler": one_of("ddpm", "ddim"),
    "steps": integer(1),
    "eta": real(0.0),
    "num_samples": integer(1),
    "seed": integer(0),
    "clip_x0": Field((float,), lambda v: v > 0, "must be > 0", optional=True),
    "compute_dtype": one_of("float32", "bfloat16"),
}

MESH_FIELD = mapping_of(int)

# The most temporary memory (GiB, XLA's plan) one chunk of work may take: predictions,
# generation and collection steps are cut into chunks that fit (`paramgen_jax.memory`).
MEMORY_SCHEMA = {"budget_gb": real(0.0, exclusive_min=True)}


def check_shared_sections(config: Any, num_devices: int | None = None) -> None:
  """Cross-field checks of the shared sections (after `check_config`)."""
  if "train" in config:
    require(config.train.warmup_steps <= config.train.steps, "train.warmup_steps",
            f"must be <= train.steps ({config.train.steps}), got {config.train.warmup_steps}")
  if "diffusion" in config:
    require(config.diffusion.beta_start < config.diffusion.beta_end, "diffusion.beta_start",
            f"must be < diffusion.beta_end ({config.diffusion.beta_end}), got "
            f"{config.diffusion.beta_start}")
  if "sample" in config and "diffusion" in config and config.sample.sampler == "ddim":
    require(config.sample.steps <= config.diffusion.timesteps, "sample.steps",
            f"must be <= diffusion.timesteps ({config.diffusion.timesteps}), got "
            f"{config.sample.steps}")
  if num_devices is not None:
    try:
      sizes = resolve_mesh_axes(_as_mapping(config.mesh), num_devices)
    except ValueError as e:
      raise ConfigError(f"config.{e}") from None
    data = sizes.get("data", 1)
    for name in train_sections(config):
      batch = config[name].batch_size
      require(batch % data == 0, f"{name}.batch_size",
              f"must be divisible by the {data} data-parallel devices, got {batch}: use "
              f"{global_batch(batch, data)}")


def global_batch(batch: int, data_devices: int) -> int:
  """The batch a run on `data_devices` data-parallel devices uses for a config's `batch`: the
  smallest multiple of the device count that is at least `batch`."""
  return -(-batch // data_devices) * data_devices


def train_sections(config: Any) -> list[str]:
  """The names of the config's train sections (`train`, `vae_train`, ...: a batch and steps)."""
  return [name for name in config.keys() if (name == "train" or name.endswith("_train"))
          and {"batch_size", "steps"} <= set(_keys(config[name]) or ())]


def fit_batches_to_devices(config: Any, num_devices: int) -> list[str]:
  """Rounds every train section's batch up to a multiple of the data-parallel device count,
  in place; one line per change. A train section's `batch_size` is the global batch (all
  devices together), so a config runs unchanged on any device count: on 1 or 2 devices the
  defaults keep their batch, on 3, 4 or 8 a batch that does not split grows to one that
  does. A mesh that does not fit the devices is left for `check_shared_sections` to name."""
  try:
    data = resolve_mesh_axes(_as_mapping(config.mesh), num_devices).get("data", 1)
  except (ValueError, AttributeError, KeyError):
    return []
  lines = []
  for name in train_sections(config):
    batch = config[name].batch_size
    if isinstance(batch, int) and batch > 0 and batch % data:
      config[name].batch_size = global_batch(batch, data)
      lines.append(f"{name}.batch_size {batch} -> {config[name].batch_size}: the global batch "
                   f"is rounded up to a multiple of the {data} data-parallel devices")
  return lines


def resolve_mesh_axes(axes: Mapping[str, int], num_devices: int) -> dict[str, int]:
  """Mesh axis sizes with the one -1 resolved so that their product is `num_devices`."""
  sizes = {name: int(size) for name, size in axes.items()}
  if sum(s == -1 for s in sizes.values()) > 1 or any(s == 0 or s < -1 for s in sizes.values()):
    raise ValueError(f"mesh: axis sizes must be >= 1 with at most one -1, got {sizes}")
  known = 1
  for size in sizes.values():
    known *= max(size, 1)
  for name, size in sizes.items():
    if size == -1 and num_devices % known == 0:
      sizes[name] = num_devices // known
      known = num_devices
  if known != num_devices:
    raise ValueError(f"mesh: {sizes} does not fit the {num_devices} available devices")
  return sizes


# -- building config files: the train section, preset tables, the one loader ------------

# What every train section holds unless its config says otherwise; steps, batch_size and lr
# have no default worth sharing, so each config names them.
TRAIN_DEFAULTS = dict(warmup_steps=100, final_lr_ratio=0.0, weight_decay=0.0, b1=0.9, b2=0.999,
                      clip_norm=1.0, ema_decay=0.0, compute_dtype="float32", log_every=100,
                      checkpoint_every=1000, keep_checkpoints=2, seed=0, fsdp_min_size=2**20)


def train_section(**overrides: Any) -> dict[str, Any]:
  """A train section: `TRAIN_DEFAULTS` with `overrides` (steps, batch_size and lr required)."""
  unknown = sorted(set(overrides) - set(TRAIN_SCHEMA))
  if unknown:
    raise ConfigError(f"train_section: unknown key {unknown[0]!r} "
                      f"(known: {', '.join(sorted(TRAIN_SCHEMA))})")
  section = {**TRAIN_DEFAULTS, **overrides}
  missing = [key for key in TRAIN_SCHEMA if key not in section]
  if missing:
    raise ConfigError(f"train_section: {', '.join(missing)} must be given")
  return section


class _Delete:
  def __repr__(self) -> str:
    return "DELETE"


# An override value that removes the key (a preset whose config has no such section).
DELETE = _Delete()


def dotted(sections: str | tuple[str, ...], **values: Any) -> dict[str, Any]:
  """{'<section>.<key>': value} for each section: one row of a preset table for several
  sections at once, e.g. the smoke lengths of every train section."""
  names = (sections,) if isinstance(sections, str) else sections
  return {f"{section}.{key}": value for section in names for key, value in values.items()}


def _fresh(value: Any) -> Any:
  """A copy of nested dicts and lists in which no two places share one (unlike deepcopy,
  which keeps a section written twice as one object: setting a key in one would set both)."""
  if isinstance(value, Mapping):
    return {key: _fresh(item) for key, item in value.items()}
  if isinstance(value, list):
    return [_fresh(item) for item in value]
  return value


def _keys(node: Any) -> list[str] | None:
  return list(node.keys()) if hasattr(node, "keys") else None


def _holder(config: Any, dotted_key: str) -> tuple[Any, str]:
  """(the section holding the last part of 'section.key', that part); a ConfigError naming
  the first part that `config` does not have, with the keys it has there."""
  node, walked = config, "config"
  for part in dotted_key.split("."):
    keys = _keys(node)
    if keys is None or part not in keys:
      known = ", ".join(sorted(keys)) if keys else "none: it is not a section"
      raise ConfigError(f"{walked}.{part}: unknown key (known: {known})")
    parent, node, walked = node, node[part], f"{walked}.{part}"
  return parent, part


def check_override_key(config: Any, dotted_key: str) -> None:
  """A ConfigError (one line) when a command-line override names a key `config` lacks."""
  _holder(config, dotted_key)


def apply_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
  """Sets every 'section.key' of `overrides` in `config` (a ConfigDict or nested dicts).

  Shallower keys go first, so one table may replace a section and set a key inside it. Only
  existing keys can be set (a misspelt key is a ConfigError naming it); `DELETE` removes one.
  """
  for name in sorted(overrides, key=lambda k: k.count(".")):
    parent, part = _holder(config, name)
    if overrides[name] is DELETE:
      del parent[part]
    else:
      parent[part] = _fresh(overrides[name])
  return config


def apply_preset(config: Any, presets: Mapping[str, Mapping[str, Any]], arg: str | None) -> Any:
  """`config` with the overrides of the preset `arg` names (None: 'default') from a table
  {preset: {'section.key': value}}; an unknown preset is a ConfigError listing the known."""
  return apply_overrides(config, presets[preset(arg, tuple(presets))])


def build(base: Mapping[str, Any], presets: Mapping[str, Mapping[str, Any]],
          arg: str | None) -> ml_collections.ConfigDict:
  """The ConfigDict of a config file: a copy of `base` (nested dicts) with a preset applied."""
  return ml_collections.ConfigDict(apply_preset(_fresh(base), presets, arg))


def _config_file(path: str) -> str:
  """The file a spec's path names: absolute; relative to the working directory; or a bare
  name, or configs/<name>.py, from the installed configs."""
  if os.path.isabs(path):
    shown, candidates = path, [path]
  elif "/" in path or path.endswith(".py"):
    shown, candidates = path, [path]
    if os.path.dirname(path) == "configs":
      candidates.append(os.path.join(CONFIGS_DIR, os.path.basename(path)))
  else:
    shown = f"configs/{path}.py"
    candidates = [os.path.join(CONFIGS_DIR, f"{path}.py")]
  for candidate in candidates:
    if path and os.path.isfile(candidate):
      return candidate
  raise ConfigError(f"no such config file {shown!r}")


def config_module(path: str) -> Any:
  """The module of a config file (a path or a bare name, as `load_config` takes them)."""
  file = _config_file(path)
  stem = os.path.splitext(os.path.basename(file))[0]
  module_spec = importlib.util.spec_from_file_location(f"_paramgen_config_{stem}", file)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def preset_names(path: str) -> tuple[str, ...]:
  """The presets a config file's get_config takes ('default' for one without presets)."""
  try:
    config_module(path).get_config("\0")
  except UnknownPresetError as e:
    return e.known
  return ("default",)


def load_config(spec: str) -> ml_collections.ConfigDict:
  """get_config(preset) of the config file a spec names.

  spec: `configs/rpg_convnext.py:smoke`, `configs/rpg_convnext.py`, a bare name
  `rpg_convnext[:preset]`, or an absolute path; no preset (or an empty one) is the default.
  Every failure is a one-line ConfigError: `no such config file '<path>'`, or the spec
  followed by the config file's own error (an unknown preset, a bug).
  """
  path, _, name = spec.partition(":")
  file = _config_file(path)
  try:
    return config_module(file).get_config(name or None)
  except ConfigError as e:
    raise ConfigError(f"{spec}: {e}") from None
  except Exception as e:  # noqa: BLE001 - the config file's own bug, named in one line
    lines = [line for line in str(e).splitlines() if line.strip()] or [""]
    raise ConfigError(f"{spec}: {type(e).__name__}: {lines[-1].strip()}") from e
