"""Every notebook runs top to bottom in a real Jupyter kernel at smoke size, and is stored
without outputs.

Each notebook is executed by nbclient in an ipykernel kernel of this interpreter, with
PARAMGEN_NOTEBOOK_SIZE=smoke (the notebook's size switch) and its workdir under the test's
temporary directory; a cell that raises fails the test with the cell's traceback.
"""

import glob
import os
import sys

import nbformat
import pytest

from tests.helpers import FAST_COMPILE_XLA_FLAGS, REPO

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))
NAMES = [os.path.basename(path) for path in NOTEBOOKS]


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


def _this_python_kernel():
  """A kernel manager class whose python3 kernel is ipykernel's own spec, which runs this
  interpreter (sys.executable), never a kernel.json installed for another Python."""
  from ipykernel.kernelspec import RESOURCES
  from jupyter_client.kernelspec import KernelSpecManager
  from jupyter_client.manager import AsyncKernelManager
  from traitlets import default

  class ThisPythonSpecs(KernelSpecManager):
    def find_kernel_specs(self):
      return {"python3": RESOURCES}

  class ThisPythonKernel(AsyncKernelManager):
    @default("kernel_spec_manager")
    def _kernel_spec_manager_default(self):
      return ThisPythonSpecs(data_dir=self.data_dir)

  return ThisPythonKernel


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_notebook_runs_at_smoke_size(name, tmp_path, monkeypatch):
  from nbclient import NotebookClient

  # The kernel inherits this environment: smoke size, workdirs under tmp_path, and one CPU
  # device as in a user's session (not the 8 simulated ones of conftest.py). Compiling is
  # most of a smoke run; XLA's CPU backend without LLVM's optimizations compiles faster (the
  # four method notebooks measured took a fifth less CPU; the programs are the same, only
  # slower to run, which smoke sizes hardly notice).
  monkeypatch.setenv("PARAMGEN_NOTEBOOK_SIZE", "smoke")
  monkeypatch.setenv("PARAMGEN_NOTEBOOK_WORKDIR", str(tmp_path / "runs"))
  monkeypatch.setenv("XLA_FLAGS", FAST_COMPILE_XLA_FLAGS)
  notebook = nbformat.read(os.path.join(REPO, "notebooks", name), as_version=4)
  kernel = _this_python_kernel()
  assert kernel(kernel_name="python3").format_kernel_cmd()[0] == sys.executable
  client = NotebookClient(notebook, kernel_name="python3", timeout=600,
                          kernel_manager_class=kernel,
                          resources={"metadata": {"path": str(tmp_path)}})
  client.execute()
  images = [output for cell in notebook.cells if cell.cell_type == "code"
            for output in cell.outputs if "image/png" in output.get("data", {})]
  assert images, f"{name} showed no picture"
