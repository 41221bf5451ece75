"""bench/scaling.py: every method's generator builds for a target of a chosen size, and a
quick run writes its rows and figure."""

import json

import jax
import numpy as np
import pytest

from bench import scaling
from bench import scaling_targets as T


@pytest.mark.parametrize("method", T.METHODS + ("rpg_tokens",))
def test_every_method_generates_one_model_of_the_size(method):
  point = T.build(method, 16384, preset="smoke", devices=8)  # the smallest size
  out = jax.eval_shape(point.fn, point.big, *point.small)  # traced, not compiled
  leaves = jax.tree_util.tree_leaves(out)
  assert all(x.shape[0] == 1 for x in leaves)  # one model
  assert sum(int(np.prod(x.shape)) for x in leaves) == point.num_params
  assert point.num_params == pytest.approx(16384, rel=0.2) and point.generator_params > 0
  assert point.devices == (8 if method == "rpg_tokens" else 1)


def test_targets_grow_with_the_size():
  small, large = (T.build("loragen", n, preset="smoke") for n in (8192, 65536))
  assert large.info["locations"] > small.info["locations"]
  assert large.num_params > 6 * small.num_params  # 1 and 8 blocks, and the same head


def test_quick_run_writes_rows_and_a_figure(tmp_path):
  out = tmp_path / "scaling.jsonl"
  rows = scaling.main(["--quick", "--methods", "mapping", "--out", str(out)])
  assert [r["status"] for r in rows] == ["ok"]
  saved = [json.loads(line) for line in open(out)]
  assert saved[0]["method"] == "mapping" and saved[0]["peak_bytes"] > 0
  assert saved[0]["seconds"] > 0 and (tmp_path / "scaling.png").stat().st_size > 0


def test_a_plan_over_the_budget_is_not_run(tmp_path):
  rows = scaling.main(["--quick", "--methods", "mapping", "--budget-gb", "1e-6",
                       "--out", str(tmp_path / "s.jsonl")])
  assert rows[0]["status"].startswith("stop: plan over") and "seconds" not in rows[0]
