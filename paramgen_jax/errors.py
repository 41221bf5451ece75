"""Errors a user can cause or meet, each reported by the launcher as one line (exit status 1).

The message names the file, unit, row or key at fault and says what to do; the traceback goes
to the workdir's log file only. `ConfigError` (exit status 2) lives in `configlib`, which must
stay free of JAX; these do too.
"""


class RunError(RuntimeError):
  """A run cannot go on; the message is one line naming what is wrong and where."""


class CorruptDataError(RunError):
  """A file on disk (zoo unit, manifest, checkpoint, generated models) fails its check."""


class ZooMismatchError(RunError):
  """A zoo on disk was collected for another config (architecture, tasks or data)."""


class NonFiniteError(RunError):
  """Non-finite values where a run needs finite ones (generated models, checkpoints)."""


class WorkdirLockedError(RunError):
  """Another live process holds the workdir."""


class MemoryBudgetError(RunError):
  """A computation cannot be planned within the memory budget, however it is chunked."""
