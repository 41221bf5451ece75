"""Zoo configs end to end through the launcher, at smoke size."""

import json
import shutil

import pytest

from tests.helpers import shared_smoke_run
from tests.launch.test_main import launch

REPORT_KEYS = {"method", "target", "config", "seen", "unseen", "baselines", "similarity",
               "timing_s", "nonfinite_generated", "verdicts", "inference"}
STAT_KEYS = {"best", "mean", "median", "min", "std", "n"}


@pytest.mark.slow
@pytest.mark.parametrize("config, rows, seen, unseen", [
    ("zoo_digits_binary", 30, 8, 2),
    ("zoo_digits_convnext", 5, 1, 0),
])
def test_zoo_collect_and_eval(smoke_root, tmp_path, config, rows, seen, unseen):
  workdir, result = shared_smoke_run(smoke_root, config)  # the RPG and mapping runs' zoo
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = tmp_path / "run"
  shutil.copytree(workdir, tmp_path)  # changed below
  manifest = [json.loads(line) for line in open(tmp_path / "zoo" / "manifest.jsonl")]
  assert len(manifest) == rows
  report = json.load(open(tmp_path / "report.json"))
  assert set(report) == REPORT_KEYS and report["method"] == "zoo"
  assert (len(report["seen"]), len(report["unseen"])) == (seen, unseen)
  for row in report["seen"] + report["unseen"]:
    assert set(row["original"]) == STAT_KEYS and row["generated"] == {}
  assert set(report["baselines"]) == {"original", "soup", "noise_0.01", "noise_0.05",
                                      "noise_0.1"}
  assert set(report["timing_s"]) == {"collect", "train", "sample", "eval"}
  assert report["similarity"]["generated"]["accuracy"] == {}

  result = launch(f"--config=configs/{config}.py:smoke", f"--workdir={tmp_path}",
                  "--mode=collect")  # a complete zoo is not collected again
  assert result.returncode == 0, result.stderr
  figures = json.load(open(tmp_path / "zoo" / "collect_timing.json"))
  assert figures["tasks_trained"] == 0
