"""Runs the notebooks at a size, times each, and keeps the executed copies for the docs.

  python bench/notebooks.py                       # every notebook at its default (quick) size
  python bench/notebooks.py --notebooks rpg.ipynb --size full

Each notebook runs top to bottom in a fresh kernel of this interpreter (as a user's Jupyter
would, with no XLA flags of the tests), its runs in an empty temporary workdir. The executed
copy, with its printed lines and pictures, is written to docs/notebooks/<name> (what the web
view of the docs shows); one JSON line per notebook (wall seconds from kernel start to the
last cell, the commit) is appended to --out. Run it with nothing else busy on the machine.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SIZE = {"quickstart.ipynb": "full"}  # the others' default is "quick"


def this_python_kernel():
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


def run_notebook(name: str, size: str, out_dir: str) -> dict:
  import nbformat
  from nbclient import NotebookClient

  notebook = nbformat.read(os.path.join(REPO, "notebooks", name), as_version=4)
  with tempfile.TemporaryDirectory() as workdir:
    os.environ["PARAMGEN_NOTEBOOK_SIZE"] = size
    os.environ["PARAMGEN_NOTEBOOK_WORKDIR"] = os.path.join(workdir, "runs")
    client = NotebookClient(notebook, kernel_name="python3", timeout=1800,
                            kernel_manager_class=this_python_kernel(),
                            resources={"metadata": {"path": REPO}})
    started = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - started
  os.makedirs(out_dir, exist_ok=True)
  nbformat.write(notebook, os.path.join(out_dir, name))
  commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                          capture_output=True, text=True).stdout.strip()
  return {"notebook": name, "size": size, "seconds": round(seconds, 1), "commit": commit,
          "cpus": os.cpu_count()}


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--notebooks", nargs="+", default=None, help="default: every notebook")
  parser.add_argument("--size", default=None, help="default: each notebook's own default")
  parser.add_argument("--docs", default=os.path.join(REPO, "docs", "notebooks"))
  parser.add_argument("--out", default=os.path.join(REPO, "bench", "results",
                                                    "notebooks_cpu2.jsonl"))
  args = parser.parse_args()
  names = args.notebooks or sorted(os.path.basename(p) for p in
                                   glob.glob(os.path.join(REPO, "notebooks", "*.ipynb")))
  for name in names:
    row = run_notebook(name, args.size or DEFAULT_SIZE.get(name, "quick"), args.docs)
    print(json.dumps(row), flush=True)
    with open(args.out, "a") as f:
      f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
  sys.exit(main())
