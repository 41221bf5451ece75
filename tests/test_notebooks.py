"""Every notebook runs top to bottom in a real Jupyter kernel at smoke size, and is stored
without outputs. A method notebook starts from a copy of its config's smoke run (shared with
the method's tests), so in CI its collect and train cells resume finished stages.

Each notebook is executed by nbclient in an ipykernel kernel of this interpreter, with
PARAMGEN_NOTEBOOK_SIZE=smoke (the notebook's size switch) and its workdir under the test's
temporary directory; a cell that raises fails the test with the cell's traceback.
"""

import glob
import os
import sys

import nbformat
import pytest

from bench.notebooks import this_python_kernel
from tests.helpers import FAST_COMPILE_XLA_FLAGS, REPO, shared_smoke_run

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))
NAMES = [os.path.basename(path) for path in NOTEBOOKS]
# A method notebook at smoke size runs its config's smoke preset, the run the method's own
# tests make: the notebook starts from a copy of it, so its collect and train cells find
# their stages complete (the pipeline's resume) and its sample and eval cells run again.
SMOKE_RUN_OF = {"rpg.ipynb": "rpg_convnext", "pdiff.ipynb": "pdiff_digits",
                "loragen.ipynb": "loragen_lora", "d2nwg.ipynb": "d2nwg_digits",
                "mapping.ipynb": "mapping_unseen_binary"}


def test_there_is_a_notebook_per_method_and_a_quickstart():
  assert set(NAMES) >= {"quickstart.ipynb", "rpg.ipynb", "pdiff.ipynb", "loragen.ipynb",
                        "d2nwg.ipynb", "mapping.ipynb"}


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_stored_without_outputs(name):
  notebook = nbformat.read(os.path.join(REPO, "notebooks", name), as_version=4)
  nbformat.validate(notebook)
  for i, cell in enumerate(notebook.cells):
    if cell.cell_type == "code":
      assert cell.outputs == [] and cell.execution_count is None, (
          f"{name}, cell {i}: clear the outputs before committing")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_opens_with_form_fields_and_a_quick_default(name):
  """Colab-ready: the repository URL and the size are form fields, nothing waits on input(),
  jax.devices() is printed, and a method notebook's default is its config's quick preset."""
  notebook = nbformat.read(os.path.join(REPO, "notebooks", name), as_version=4)
  code = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
  assert 'REPO_URL = ""  #@param {type:"string"}' in code[0]
  assert "#@param" in code[1] and "PARAMGEN_NOTEBOOK_SIZE" in code[1]
  assert not any("input(" in source for source in code)
  assert any("jax.devices()" in source for source in code[:3])
  if name != "quickstart.ipynb":
    assert 'SIZE = "quick"  #@param ["quick", "full", "smoke"]' in code[1]
    assert '{"quick": "quick", "full": "", "smoke": "smoke"}[SIZE]' in code[2]


@pytest.mark.slow
@pytest.mark.first
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_smoke_size(name, tmp_path, monkeypatch, smoke_root):
  import shutil

  from nbclient import NotebookClient

  if name in SMOKE_RUN_OF:
    source, result = shared_smoke_run(smoke_root, SMOKE_RUN_OF[name])
    assert result["returncode"] == 0, result["stderr"]
    shutil.copytree(source, tmp_path / "runs" / f"notebook_{name[:-6]}_smoke",
                    ignore=shutil.ignore_patterns("generated", "report.*", "*.lock"))
  # The kernel inherits this environment: smoke size, workdirs under tmp_path, and one CPU
  # device as in a user's session (not the 8 simulated ones of conftest.py). Compiling is
  # most of a smoke run; XLA's CPU backend without LLVM's optimizations compiles faster (the
  # four method notebooks measured took a fifth less CPU; the programs are the same, only
  # slower to run, which smoke sizes hardly notice).
  monkeypatch.setenv("PARAMGEN_NOTEBOOK_SIZE", "smoke")
  monkeypatch.setenv("PARAMGEN_NOTEBOOK_WORKDIR", str(tmp_path / "runs"))
  monkeypatch.setenv("XLA_FLAGS", FAST_COMPILE_XLA_FLAGS)
  notebook = nbformat.read(os.path.join(REPO, "notebooks", name), as_version=4)
  kernel = this_python_kernel()
  assert kernel(kernel_name="python3").format_kernel_cmd()[0] == sys.executable
  client = NotebookClient(notebook, kernel_name="python3", timeout=600,
                          kernel_manager_class=kernel,
                          resources={"metadata": {"path": str(tmp_path)}})
  client.execute()
  images = [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "image/png" in output.get("data", {})]
  assert images, f"{name} showed no picture"
  if name == "quickstart.ipynb":  # README's quickstart, run as written: a working model
    printed = "".join(output.get("text", "") for cell in notebook.cells
                      if cell.cell_type == "code" for output in cell.outputs)
    accuracy = float(printed.split("accuracy ", 1)[1].split()[0])
    assert accuracy > 0.9, printed[-500:]
    assert (tmp_path / "my_generator" / "generator.json").exists()


def test_the_quickstart_notebook_holds_the_readmes_quickstart_as_written():
  from tests.test_readme_api import snippet

  readme = snippet("README.md", "<!-- quickstart:begin -->", "<!-- quickstart:end -->")
  notebook = nbformat.read(os.path.join(REPO, "notebooks", "quickstart.ipynb"), as_version=4)
  assert any(cell.source.strip() == readme.strip() for cell in notebook.cells
             if cell.cell_type == "code")
