"""The leaderboard command: built from every method's smoke run, failures become cells."""

import json
import os
import subprocess
import sys

import pytest

from tests.helpers import REPO, load_config, shared_smoke_run, subprocess_env


def leaderboard(*args):
  return subprocess.run([sys.executable, os.path.join(REPO, "launch", "leaderboard.py"), *args],
                        cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_leaderboard_smoke(smoke_root):
  config = load_config("leaderboard", "smoke")
  for entry in config.entries:  # the methods' own smoke tests share these runs
    _, result = shared_smoke_run(smoke_root, os.path.basename(entry["config"])[:-3],
                                 name=entry["name"], preset=entry["preset"])
    assert result["returncode"] == 0, (entry["name"], result["stderr"])
  result = leaderboard("--config=configs/leaderboard.py:smoke", f"--workdir={smoke_root}",
                       "--report-only")
  assert result.returncode == 0, result.stderr
  board = json.load(open(smoke_root / "leaderboard.json"))
  assert [c["name"] for c in board["cells"]] == [e["name"] for e in config.entries]
  for entry in config.entries:  # each cell's report beside the table
    copied = json.load(open(smoke_root / "reports" / f"{entry['name']}.json"))
    assert copied == json.load(open(smoke_root / entry["name"] / "report.json"))
  for cell in board["cells"]:
    headline = cell["unseen"] or cell["seen"]
    assert 0 < headline["ratio"] < 2 and headline["tasks"] >= 1, cell["name"]
    assert cell["one_model_s"] > 0 and cell["one_model_bytes"] > 0, cell["name"]
    assert cell["generator_params"] > 0 and cell["train_s"] > 0, cell["name"]
    assert 0 <= cell["nn_wrong_iou"] <= 1, cell["name"]
  text = (smoke_root / "leaderboard.md").read_text()
  assert all(m["why"] in text for m in config.missing)
  assert os.path.getsize(smoke_root / "leaderboard.png") > 0


def test_a_failing_entry_is_a_cell_and_exit_status_1(tmp_path):
  config = tmp_path / "board.py"
  config.write_text(
      "import ml_collections\n\n"
      "def get_config(arg=None):\n"
      "  return ml_collections.ConfigDict(dict(preset='smoke', zoos={'z': 'Z'}, zoo_order=['z'],\n"
      "      missing=[],\n"
      "      entries=[dict(name='bad', method='M', zoo='z', config='configs/toy_gmm.py',\n"
      "                    preset='nope')]))\n")
  result = leaderboard(f"--config={config}", f"--workdir={tmp_path / 'board'}")
  assert result.returncode == 1
  board = json.load(open(tmp_path / "board" / "leaderboard.json"))
  assert board["cells"] == [] and "nope" in board["failed"][0]["error"]
  assert "**run failed**" in (tmp_path / "board" / "leaderboard.md").read_text()


def test_unknown_entry_or_config_file_is_one_line(monkeypatch, capsys):
  from paramgen_jax.cli import leaderboard as command  # in process: argument errors only

  monkeypatch.chdir(REPO)
  for argv, message in (
      (["--config=configs/leaderboard.py:smoke", "--only", "nope", "--report-only"],
       "unknown entries ['nope']"),
      (["--config=configs/nope.py", "--report-only"], "no such config file 'configs/nope.py'")):
    with pytest.raises(SystemExit) as exit_info:
      command.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and message in err, err
    assert "Traceback" not in err and err.strip().splitlines()[-1].count(message) == 1
