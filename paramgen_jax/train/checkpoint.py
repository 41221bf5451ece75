"""Generator checkpoints with Orbax, each sealed by a checksum record; restores verify it.

    checkpoints/<step>/state, meta     Orbax items (Composite: StandardSave + JsonSave)
    checkpoints/<step>/verified.json   {"step", "sha256", "leaves"}: written (atomically)
                                       only after Orbax has finished the step
    checkpoints.corrupt/<step>         a step that failed verification, set aside on resume

The checksum is computed from the host copy that was handed to Orbax, never by re-reading
files, so a restore that decodes damaged bytes into plausible numbers (random bytes in a
data file decode to NaNs or garbage without any error) is caught by comparing the restored
arrays against it. A step without a record (a save killed before it finished), an Orbax
read error, a shape mismatch or non-finite values are bad too: `restore` raises
`CorruptCheckpointError` for each.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import shutil
import sys
from typing import Any, Callable, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from jax.experimental import multihost_utils

from paramgen_jax import hosts
from paramgen_jax.errors import CorruptDataError
from paramgen_jax.integrity import atomic_write_json, leaves_by_path, tree_checksum

PyTree = Any
T = TypeVar("T")
RECORD = "verified.json"


class CorruptCheckpointError(CorruptDataError):
  """A checkpoint step fails verification; `why` is the short reason, `path` its folder."""

  def __init__(self, path: str, why: str, advice: str = ""):
    super().__init__(f"checkpoint {path}: {why}" + (f"; {advice}" if advice else ""))
    self.path, self.why = path, why


def abstract_like(tree: PyTree, sharding: PyTree | None = None) -> PyTree:
  """ShapeDtypeStructs of `tree` (arrays or structs), optionally with shardings."""
  if sharding is None:
    return jax.tree_util.tree_map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), tree)
  return jax.tree_util.tree_map(
      lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, sharding)


def host_copy(tree: PyTree) -> PyTree:
  """numpy copies of a tree's arrays, each whole (also when it is split over devices).

  An array split over several hosts is not addressable from one: then the tree is
  all-gathered, a collective that every process must reach at the same point (as they
  all do in `save` and `restore`).
  """
  leaves = jax.tree_util.tree_leaves(tree)
  if all(getattr(x, "is_fully_addressable", True) for x in leaves):
    return jax.device_get(tree)
  return multihost_utils.process_allgather(tree, tiled=True)


def first_non_finite(tree: PyTree) -> str | None:
  """The path of the first floating leaf holding a NaN or infinity, or None."""
  for name, x in leaves_by_path(tree):
    x = np.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.inexact) and not np.isfinite(x).all():
      return name or "<root>"
  return None


def write_record(directory: str, host: PyTree, **extra: Any) -> None:
  """Seals a saved tree: `directory/verified.json` with its checksum, written atomically."""
  atomic_write_json(os.path.join(directory, RECORD),
                    {"sha256": tree_checksum(host),
                     "leaves": len(jax.tree_util.tree_leaves(host)), **extra})


def check_record(directory: str, tree: PyTree) -> str | None:
  """Why `tree` does not match the record in `directory` (None when it does)."""
  try:
    with open(os.path.join(directory, RECORD)) as f:
      record = json.load(f)
  except FileNotFoundError:
    return "no checksum record (its save did not finish)"
  except (OSError, ValueError) as e:
    return f"unreadable checksum record ({one_line(e)})"
  if record.get("sha256") != tree_checksum(tree):
    return "checksum mismatch"
  return None


def one_line(error: BaseException, limit: int = 200) -> str:
  """`Type: first line of the message` of the innermost cause, cut to `limit` characters.

  The innermost cause says what is wrong (TensorStore's "DATA_LOSS: ... failed"); Orbax
  wraps it in a generic "error while reading array index" with a page of spec.
  """
  seen = {id(error)}
  while (inner := error.__cause__ or error.__context__) is not None and id(inner) not in seen:
    seen.add(id(inner))
    error = inner
  lines = str(error).strip().splitlines()
  text = f"{type(error).__name__}: {lines[0] if lines else ''}"
  return text if len(text) <= limit else text[:limit - 3] + "..."


def read_quietly(read: Callable[[], T]) -> tuple[T | None, str | None]:
  """(read(), None), or (None, "unreadable (<one line>)") when an Orbax read fails.

  A failed Orbax read leaves asyncio tasks and coroutines whose errors Python prints, a
  page each, when they are garbage collected, often after the caller has reported the
  error. They are collected here, muted; the full traceback goes to the log (INFO).
  """
  muted = [logging.getLogger(name) for name in ("asyncio", "absl")]
  levels = [logger.level for logger in muted]
  hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None
  for logger in muted:
    logger.setLevel(logging.CRITICAL)
  result, why = None, None
  try:
    try:
      result = read()
    except Exception as e:  # Orbax and TensorStore raise many types for damaged files
      logging.getLogger(__name__).info("read failed", exc_info=True)
      why = f"unreadable ({one_line(e)})"
    if why is not None:
      gc.collect()  # the exception is gone: its leftover tasks go now, while muted
  finally:
    sys.unraisablehook = hook
    for logger, level in zip(muted, levels):
      logger.setLevel(level)
  if why is not None:
    _mute_late_callbacks()
  return result, why


def _mute_late_callbacks() -> None:
  """From now on, drops "Event loop is closed" errors that threads raise on their way out.

  TensorStore threads of a failed read may still finish after Orbax closed its event loop;
  their callbacks then fail where nothing can catch them, and Python prints each with a
  traceback. Every other unraisable error still goes to the previous hook.
  """
  previous = sys.unraisablehook
  if getattr(previous, "mutes_late_callbacks", False):
    return

  def hook(unraisable):
    if not (isinstance(unraisable.exc_value, RuntimeError)
            and str(unraisable.exc_value) == "Event loop is closed"):
      previous(unraisable)

  hook.mutes_late_callbacks = True
  sys.unraisablehook = hook


class Checkpointer:
  """A thin `ocp.CheckpointManager`: saves {state, meta (JSON)} under `directory/<step>`.

  `save` is synchronous: it returns once Orbax has finished and the checksum record is
  written, so a step on disk with a record is complete.
  """

  def __init__(self, directory: str, *, max_to_keep: int = 3, save_interval_steps: int = 1):
    self.directory = os.path.abspath(directory)
    self._manager = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep,
                                             save_interval_steps=save_interval_steps,
                                             create=True))

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def save(self, step: int, state: PyTree, meta: dict | None = None, *,
           force: bool = False) -> bool:
    """Saves if the interval says so (or `force`), then seals it; returns whether it saved."""
    saved = self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta or {})), force=force)
    if saved:
      # The arrays Orbax was given (still alive: the caller's state is not donated before
      # this returns), copied to the host; Orbax's files are never read back for this.
      host = host_copy(state)
      self._manager.wait_until_finished()
      if hosts.is_writer():  # one writer of the shared record
        write_record(self.step_dir(step), host, step=int(step))
    return saved

  def restore(self, step: int, abstract_state: PyTree, *,
              advice: str = "") -> tuple[PyTree, dict]:
    """Restores and verifies (state, meta) at `step`.

    Args:
      step: the step to restore.
      abstract_state: shapes, dtypes (and shardings) of the state; None restores the tree
        as saved (plain dicts and lists of arrays).
      advice: what to do, appended to the error message.

    Raises:
      CorruptCheckpointError: unreadable, no or another checksum, shapes other than
        `abstract_state`, or non-finite values.
    """
    path = self.step_dir(step)
    restored, why = read_quietly(lambda: self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore())))
    if why is not None:
      raise CorruptCheckpointError(path, why, advice)
    host = host_copy(restored.state)
    why = _shape_mismatch(host, abstract_state) or check_record(path, host)
    if why is None and (bad := first_non_finite(host)) is not None:
      why = f"non-finite values in {bad}"
    if why is not None:
      raise CorruptCheckpointError(path, why, advice)
    return restored.state, dict(restored.meta or {})

  def set_aside(self, step: int) -> str:
    """Moves a bad step to `<directory>.corrupt/<step>` (out of Orbax's sight); returns it."""
    target = os.path.join(f"{self.directory}.corrupt", str(step))
    hosts.barrier(f"checkpoint {step} judged")  # no process still reads the step
    if hosts.is_writer():
      if os.path.exists(target):
        shutil.rmtree(target)
      os.makedirs(os.path.dirname(target), exist_ok=True)
      os.replace(self.step_dir(step), target)
    hosts.barrier(f"checkpoint {step} set aside")
    self._manager.reload()  # later saves must not meet a step the manager still lists
    return target

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()

  def __enter__(self) -> "Checkpointer":
    return self

  def __exit__(self, *exc) -> None:
    self.close()


def _shape_mismatch(host: PyTree, abstract_state: PyTree) -> str | None:
  """Why the restored leaves' shapes differ from `abstract_state`'s (None if they do not)."""
  if abstract_state is None:
    return None
  expected = {name: tuple(s.shape) for name, s in leaves_by_path(abstract_state)}
  for name, x in leaves_by_path(host):
    if name in expected and tuple(x.shape) != expected[name]:
      return f"shape mismatch in {name}: saved {tuple(x.shape)}, expected {expected[name]}"
  return None
