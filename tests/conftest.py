"""Test setup: 8 simulated CPU devices (set before JAX starts) compiling with XLA's fast
flags, implicit rank promotion is an error (it hides shape bugs), small hypothesis budgets,
and one persistent compilation cache per test session.

Most tests are mostly compilation: `helpers.FAST_COMPILE_XLA_FLAGS` (XLA's CPU backend without
LLVM's optimizations and with its older fusion emitters; the same programs) took a quarter off
the in-process tests, and the emitters a third of what was left (the few that train longer
run slower). Many tests compile the same programs (a smoke run's stages, the
fresh process that reloads its generator, tests that rebuild one model), so the session keeps
XLA's executables in a cache that the pytest-xdist workers and every process they start share
(inherited through JAX_COMPILATION_CACHE_DIR): 15% less wall time. Its key holds the program,
the devices and XLA_FLAGS, so a hit is the executable the same compilation would give. The
session's controller removes it at the end.
"""

import os
import shutil
import tempfile

from tests.helpers import FAST_COMPILE_XLA_FLAGS

os.environ.setdefault("XLA_FLAGS",
                      f"--xla_force_host_platform_device_count=8 {FAST_COMPILE_XLA_FLAGS}")
os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")
# A pytest-xdist worker is a child of the session's controller.
_SESSION = os.getppid() if os.environ.get("PYTEST_XDIST_WORKER") else os.getpid()
_CACHE = os.path.join(tempfile.gettempdir(), f"paramgen_jax_xla_cache_{_SESSION}")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.3")

import hypothesis  # noqa: E402
import pytest  # noqa: E402

hypothesis.settings.register_profile("ci", max_examples=20, deadline=None,
                                     suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("ci")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def repo_root():
  return REPO


@pytest.fixture(scope="session")
def smoke_root(tmp_path_factory):
  """A directory every pytest-xdist worker of this session shares (`shared_smoke_run`)."""
  base = tmp_path_factory.getbasetemp()
  return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "smoke_runs"


def pytest_collection_modifyitems(config, items):
  """Tests marked `first` (the longest, which share no smoke run and so never wait on
  another worker's lock) go first: pytest-xdist hands them out at the start, and the
  workers end together on short tests rather than one waiting for a long one."""
  items.sort(key=lambda item: item.get_closest_marker("first") is None)


def pytest_sessionfinish(session):
  if not os.environ.get("PYTEST_XDIST_WORKER"):  # the controller, after every worker
    shutil.rmtree(_CACHE, ignore_errors=True)

