"""Test setup: 8 simulated CPU devices (set before JAX starts), implicit rank promotion is an
error (it hides shape bugs), small hypothesis budgets."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("JAX_NUMPY_RANK_PROMOTION", "raise")

import hypothesis  # noqa: E402
import pytest  # noqa: E402

hypothesis.settings.register_profile("ci", max_examples=40, deadline=None,
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
