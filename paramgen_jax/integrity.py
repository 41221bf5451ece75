"""What makes data on disk trustworthy: checksums of array trees, atomic files, finiteness.

    record = {"checksum": tree_checksum(tree), ...}
    atomic_write_json(path, record)        # readers see the old file or the new one, never half
    bad = nonfinite_sets(stacked)          # (S,) True where a stacked set has a NaN or inf

Checksums cover every leaf's path, shape, dtype and bytes, so a flipped byte, a reshaped or
re-typed array and a renamed leaf all change them. Zoo units, generator checkpoints and
generated models all record one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from typing import Any

import numpy as np

from paramgen_jax.errors import RunError


def _key_name(key: Any) -> str:
  # Attribute, dict and sequence keys alike, so a tree restored as plain dicts or lists
  # (Orbax without a target) names its leaves as the dataclass / tuple it was saved from.
  for attr in ("name", "key", "idx"):
    if hasattr(key, attr):
      return str(getattr(key, attr))
  return str(key)


def leaves_by_path(tree: Any) -> list[tuple[str, Any]]:
  """(path 'a/b/0', leaf) for every leaf of `tree`, sorted by path."""
  import jax  # here, not at the top: the launcher imports this module before JAX starts
  named = [("/".join(_key_name(k) for k in path), x)
           for path, x in jax.tree_util.tree_leaves_with_path(tree)]
  return sorted(named, key=lambda item: item[0])


def tree_checksum(tree: Any) -> str:
  """sha256 hex digest of a pytree of arrays (host or device): every leaf's path, dtype,
  shape and bytes, in path order (so a dataclass and its restored dict agree)."""
  digest = hashlib.sha256()
  for name, leaf in leaves_by_path(tree):
    array = np.ascontiguousarray(np.asarray(leaf))
    digest.update(f"{name}|{array.dtype.str}|{array.shape}\n".encode())
    digest.update(memoryview(array.reshape(-1).view(np.uint8)))
  return digest.hexdigest()


def ensure_writable(directory: str, what: str = "directory") -> None:
  """Creates `directory` and a file in it, or raises RunError (one line) at once.

  Orbax meets an unwritable folder only in its background commit, where it waits out a
  barrier timeout (minutes) before failing with a long traceback.
  """
  try:
    os.makedirs(directory, exist_ok=True)
    fd, probe = tempfile.mkstemp(dir=directory, prefix=".write-test-")
    os.close(fd)
    os.remove(probe)
  except OSError as e:
    reason = ("a file of that name is in the way" if isinstance(e, FileExistsError)
              else e.strerror or str(e))
    raise RunError(f"{what} {directory} cannot be written: {reason}") from None


def atomic_write_text(path: str, text: str) -> None:
  """Writes `text` to `path` through a synced temporary file and a rename."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "w") as f:
    f.write(text)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)
  _sync_directory(os.path.dirname(os.path.abspath(path)))


def atomic_write_json(path: str, value: Any) -> None:
  atomic_write_text(path, json.dumps(value, indent=1, sort_keys=True) + "\n")


def _sync_directory(directory: str) -> None:
  # The rename itself is durable only once the directory entry is on disk.
  fd = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def read_json(path: str, what: str = "file") -> Any:
  """json.load that names the file when it is not valid JSON (ValueError, one line)."""
  with open(path) as f:
    text = f.read()
  try:
    return json.loads(text)
  except json.JSONDecodeError as e:
    raise ValueError(f"{what} {path}: not valid JSON (line {e.lineno}: {e.msg})") from None


def nonfinite_sets(stacked: Any) -> np.ndarray:
  """(S,) bool: which sets of a stacked pytree (leading axis S) hold a NaN or an infinity."""
  import jax
  leaves = [np.asarray(leaf) for leaf in jax.tree_util.tree_leaves(stacked)]
  if not leaves:
    return np.zeros(0, bool)
  bad = np.zeros(leaves[0].shape[0], bool)
  for leaf in leaves:
    if np.issubdtype(leaf.dtype, np.inexact):
      bad |= ~np.isfinite(leaf.reshape(leaf.shape[0], -1)).all(axis=1)
  return bad
