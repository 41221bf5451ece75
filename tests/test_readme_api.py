"""README's "Use it from your own JAX code" snippet runs as written and its generated models
work (RPG trained in memory on a user's own Flax model; no files)."""

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

BEGIN, END = "<!-- api-snippet:begin -->", "<!-- api-snippet:end -->"


def readme_snippet() -> str:
  text = open(os.path.join(REPO, "README.md")).read()
  block = text.split(BEGIN, 1)[1].split(END, 1)[0]
  return "\n".join(line for line in block.strip().splitlines() if not line.startswith("```"))


@pytest.mark.slow
def test_readme_snippet_trains_rpg_in_memory_and_applies_the_models(tmp_path):
  check = ("\nassert float(accuracy.mean()) > 0.9, accuracy"
           "\nimport os; assert os.listdir('.') == [], os.listdir('.')\n")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device, as a user
  env["PYTHONPATH"] = REPO
  result = subprocess.run([sys.executable, "-c", readme_snippet() + check], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-3000:]
  assert "generated models' accuracy" in result.stdout
