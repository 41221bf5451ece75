"""The configs a user can run: their names, presets and purposes (`paramgen list`, `show`).

    for entry in catalog():    # one per configs/<name>.py, sorted by name
      print(entry.name, entry.presets, entry.purpose)
    print(flat_lines(resolved("toy_gmm:smoke", ["--config.train.steps=7"])))
"""

from __future__ import annotations

import ast
import os
from typing import NamedTuple

import ml_collections

from paramgen_jax import configlib


class ConfigEntry(NamedTuple):
  """name: the bare name (`paramgen run <name>[:preset]`); presets: the names its
  get_config takes, 'default' first; purpose: the first sentence of its docstring."""
  name: str
  presets: tuple[str, ...]
  purpose: str


def _purpose(path: str) -> str:
  with open(path) as f:
    doc = ast.get_docstring(ast.parse(f.read())) or ""
  paragraph = " ".join(doc.split("\n\n")[0].split())
  return paragraph.split(". ")[0].rstrip(".") + "." if paragraph else ""


def catalog() -> list[ConfigEntry]:
  """Every config file of configs/ (not the modules only others import), sorted by name."""
  out = []
  for file in sorted(os.listdir(configlib.CONFIGS_DIR)):
    name, ext = os.path.splitext(file)
    if ext != ".py" or name.startswith("_"):
      continue
    names = configlib.preset_names(name)
    out.append(ConfigEntry(name, ("default",) + tuple(n for n in names if n != "default"),
                           _purpose(os.path.join(configlib.CONFIGS_DIR, file))))
  return out


def resolved(spec: str, overrides: list[str]) -> ml_collections.ConfigDict:
  """The config `paramgen run <spec> <overrides>` would run (`--config.<key>=<value>`, parsed
  as the run command parses them); a ConfigError (one line) for a bad spec or override."""
  from absl import flags
  from ml_collections import config_flags

  config = configlib.load_config(spec)
  for arg in overrides:
    if not arg.startswith("--config."):
      raise configlib.ConfigError(f"{arg}: only --config.<section>.<key>=<value> overrides")
    configlib.check_override_key(config, arg[len("--config."):].split("=", 1)[0])
  argv = ["paramgen show", *overrides]
  values = flags.FlagValues()
  try:
    config_flags.DEFINE_config_dict("config", config, flag_values=values, lock_config=True,
                                    sys_argv=argv)
    values(argv)
  except (flags.Error, KeyError, AttributeError, TypeError, ValueError) as e:
    lines = [line for line in str(e).splitlines() if line.strip()] or [type(e).__name__]
    raise configlib.ConfigError(lines[0].strip()) from None
  return config


def flat_lines(config: ml_collections.ConfigDict) -> str:
  """`section.key = value` lines of a config, sorted: what `--config.section.key=` sets."""
  def walk(node, prefix):
    for key in sorted(node.keys()):
      value = node[key]
      if isinstance(value, ml_collections.ConfigDict) and len(value):
        yield from walk(value, f"{prefix}{key}.")
      else:
        shown = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
        yield f"{prefix}{key} = {shown!r}"
  return "\n".join(walk(config, ""))
