"""The notebooks run top to bottom (code cells executed in order, at a reduced size)."""

import json
import os

import matplotlib
import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_quickstart_notebook_runs():
  matplotlib.use("Agg")
  with open(os.path.join(REPO, "notebooks", "quickstart.ipynb")) as f:
    notebook = json.load(f)
  code = ["".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "code"]
  source = "\n".join(code)
  assert source.count("steps=1500") == 1
  namespace = {}
  exec(compile(source.replace("steps=1500", "steps=300"), "quickstart.ipynb", "exec"), namespace)
  assert namespace["points"].shape == (4000, 1)
