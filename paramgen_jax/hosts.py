"""One writer per run: which process writes the workdir, and the barrier that orders reads.

In a run over several processes (`jax.distributed`), process 0 is the only one that writes
files: the zoo, generators, generated models, reports, logs. Stages that need every
process's devices (training) run on every process and write from process 0 only; the other
stages run on process 0 alone, over its local devices, while the others wait at a barrier,
after which they read what it wrote. With one process every function here is a no-op or true.
"""

from __future__ import annotations

import jax


def is_writer() -> bool:
  """True on the process that writes the workdir (process 0)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Every process waits here until all have arrived (nothing with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def local_checkpointer():
  """An Orbax checkpointer for host arrays that involves this process alone.

  Orbax's default synchronises every process of the run on each save and restore, which
  would wait forever for processes that are not in a stage run by process 0 alone.
  """
  import orbax.checkpoint as ocp

  me = jax.process_index()
  return ocp.StandardCheckpointer(multiprocessing_options=ocp.options.MultiprocessingOptions(
      primary_host=me, active_processes={me}))
