"""A trained generator on disk: one self-describing directory that `load` reads alone.

    save(path, method="rpg", arrays=trained, config=config, codecs={"tokens": codec},
         template=one_model, meta={"condition_dim": 10})
    found = load(path, method="rpg")   # Saved(method, arrays, config, codecs, template, meta)

The directory holds

  arrays/          the trained arrays (a pytree of nested dicts), through Orbax
  codecs/<name>/   each fitted parameter codec (`params.codec.save_codec`, checksummed)
  generator.json   written last: format, method, the config as JSON, the method's `meta`,
                   the template model's structure and constants, and the arrays' checksum

so `load` needs no zoo, no config file and no workdir layout, and a save that did not finish
(no generator.json) or a file altered since (checksums) is refused with one line naming the
file. Each method's `save` / `load` wraps these two with its own arrays and statics.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Mapping, NamedTuple

import numpy as np

from paramgen_jax.errors import CorruptDataError
from paramgen_jax.integrity import atomic_write_json, read_json, tree_checksum

FORMAT = 1
RECORD = "generator.json"
ARRAYS = "arrays"
CODECS = "codecs"


class Saved(NamedTuple):
  """What `load` returns. config: a FrozenConfigDict (hashable, so a generator holding it
  is a static field under `jax.jit`); template: one model's pytree (generated leaves zero,
  constant leaves as saved) or None; codecs: {name: codec}; meta: the method's JSON dict."""
  method: str
  arrays: Any
  config: Any
  codecs: dict
  template: Any
  meta: dict


def frozen(config: Any) -> Any:
  """A hashable, immutable copy of an ml_collections config (or mapping)."""
  import ml_collections
  if isinstance(config, ml_collections.FrozenConfigDict):
    return config
  return ml_collections.FrozenConfigDict(config)


def with_run_sections(generator: Any, config: Any,
                      sections: tuple[str, ...] = ("sample", "generate")) -> Any:
  """A saved `generator` (a method's struct dataclass with a `config`) that samples as this
  run's `config` says: its `sections` replace the saved ones, so `--config.sample.steps=...`
  or `--config.sample.compute_dtype=bfloat16` given with `--mode=sample` take effect."""
  import copy

  # A copy: as_configdict() is the frozen config's own dict, which must not change.
  merged = copy.deepcopy(generator.config.as_configdict())
  for name in sections:
    if name in config:
      merged[name] = copy.deepcopy(config[name])
  return generator.replace(config=frozen(merged))


def config_json(config: Any) -> dict:
  """The config as plain JSON data (tuples as lists)."""
  import json
  import ml_collections
  if isinstance(config, ml_collections.FrozenConfigDict):
    config = config.as_configdict()
  return json.loads(config.to_json_best_effort())


def _host(tree: Any) -> Any:
  import jax
  return jax.tree_util.tree_map(np.asarray, jax.device_get(tree))


def save(path: str, *, method: str, arrays: Any, config: Any, codecs: Mapping[str, Any] = None,
         template: Any = None, meta: Mapping[str, Any] | None = None) -> None:
  """Writes the generator directory `path` (replacing one there); generator.json last.

  arrays: nested dicts of arrays (Flax variables and the method's fitted statistics);
  template: one model of the generated architecture, for methods that rebuild their
  parameter plan from it at load time.
  """
  from paramgen_jax import hosts
  from paramgen_jax.params.codec import layout_record, save_codec
  from paramgen_jax.params.layout import ParamLayout

  if not hosts.is_writer():  # every process trains; process 0 writes
    return

  path = os.path.abspath(path)
  if os.path.exists(os.path.join(path, RECORD)):
    os.remove(os.path.join(path, RECORD))  # an interrupted rewrite must not look complete
  os.makedirs(path, exist_ok=True)
  host = _host(arrays)
  with hosts.local_checkpointer() as checkpointer:
    checkpointer.save(os.path.join(path, ARRAYS), host, force=True)
    checkpointer.wait_until_finished()
  codecs = dict(codecs or {})
  if os.path.isdir(os.path.join(path, CODECS)):
    shutil.rmtree(os.path.join(path, CODECS))
  for name, codec in codecs.items():
    save_codec(codec, os.path.join(path, CODECS, name))
  record = {"format": FORMAT, "method": method, "config": config_json(config),
            "meta": dict(meta or {}), "codecs": sorted(codecs), "arrays_sha256": tree_checksum(host),
            "template": None}
  if template is not None:
    layout, constants = layout_record(ParamLayout.from_template(_host(template)))
    record["template"] = {"layout": layout, "constants": {
        k: {"dtype": v.dtype.str, "shape": list(v.shape), "values": v.ravel().tolist()}
        for k, v in constants.items()}}
  atomic_write_json(os.path.join(path, RECORD), record)


def read_record(path: str) -> dict:
  """generator.json of `path`, checked for completeness and format (one-line errors)."""
  record_path = os.path.join(os.path.abspath(path), RECORD)
  if not os.path.isdir(path):
    raise FileNotFoundError(f"no generator directory {path}: train one first (--mode=train)")
  if not os.path.exists(record_path):
    raise CorruptDataError(f"generator {path}: no {RECORD} (an unfinished save, or not a "
                           "generator directory); save or train it again")
  try:
    record = read_json(record_path, "generator record")
  except Exception as e:  # noqa: BLE001 - any unreadable record is one line
    raise CorruptDataError(f"generator {record_path}: unreadable ({e})") from None
  version = record.get("format") if isinstance(record, dict) else None
  if version != FORMAT:
    raise CorruptDataError(
        f"generator {record_path}: written in format {version!r}, this version of "
        f"paramgen_jax reads format {FORMAT}; train it again (or load it with the version "
        "that wrote it)")
  return record


def load(path: str, method: str | None = None) -> Saved:
  """The generator saved in `path`, verified.

  Raises (one line naming the file):
    FileNotFoundError: no such directory.
    CorruptDataError: incomplete, altered, of another format, or (with `method`) of
      another method.
  """
  import jax
  from paramgen_jax import hosts
  from paramgen_jax.params.codec import layout_from_record, load_codec

  path = os.path.abspath(path)
  record = read_record(path)
  if method is not None and record["method"] != method:
    raise CorruptDataError(f"generator {os.path.join(path, RECORD)}: a {record['method']!r} "
                           f"generator, not {method!r}; load it with "
                           f"paramgen_jax.methods.{record['method']}.load")
  arrays_path = os.path.join(path, ARRAYS)
  try:
    with hosts.local_checkpointer() as checkpointer:
      arrays = checkpointer.restore(arrays_path)
  except Exception as e:  # noqa: BLE001 - Orbax raises many types for a damaged folder
    raise CorruptDataError(f"generator {arrays_path}: unreadable ({str(e).splitlines()[0]})"
                           ) from None
  arrays = jax.tree_util.tree_map(np.asarray, arrays)
  if tree_checksum(arrays) != record["arrays_sha256"]:
    raise CorruptDataError(f"generator {arrays_path}: does not match the checksum in "
                           f"{RECORD}; the files were altered or damaged")
  codecs = {}
  for name in record["codecs"]:
    try:
      codecs[name] = load_codec(os.path.join(path, CODECS, name))
    except FileNotFoundError:
      raise CorruptDataError(f"generator {os.path.join(path, CODECS, name)}: missing") from None
  template = None
  if record["template"] is not None:
    constants = {k: np.asarray(v["values"], np.dtype(v["dtype"])).reshape(v["shape"])
                 for k, v in record["template"]["constants"].items()}
    layout = layout_from_record(record["template"]["layout"], constants)
    template = jax.device_get(layout.from_vector(np.zeros(layout.num_params, np.float32)))
  import ml_collections
  config = frozen(ml_collections.ConfigDict(record["config"]))
  return Saved(record["method"], arrays, config, codecs, template, record["meta"])
