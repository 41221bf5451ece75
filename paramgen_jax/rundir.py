"""The workdir of a run: writable, held by one process at a time, with a log of tracebacks.

    with hold(workdir):          # WorkdirLockedError names the holder's process id
      ...

The lock is an `flock` on `workdir/.lock`, so the kernel drops it when its process dies, by
any signal: a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from typing import Iterator

from paramgen_jax.errors import WorkdirLockedError
from paramgen_jax.integrity import ensure_writable

LOCK = ".lock"
LOG = "paramgen.log"


@contextlib.contextmanager
def hold(workdir: str) -> Iterator[None]:
  """Holds the workdir's lock for the block; a second holder is refused at once."""
  ensure_writable(workdir, "workdir")
  path = os.path.join(workdir, LOCK)
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      if e.errno not in (errno.EWOULDBLOCK, errno.EACCES):
        raise
      holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
      raise WorkdirLockedError(f"workdir {workdir} is in use by process {holder} (lock "
                               f"{path}): wait for it to end, or use another --workdir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    yield
  finally:
    os.close(fd)  # closing the descriptor releases the lock


def log_path(workdir: str) -> str:
  return os.path.join(workdir, LOG)
