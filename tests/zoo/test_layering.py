"""The zoo library sits below the evaluation: zoo/ imports no evaluation, method or
pipeline module (eval/ may import zoo/, not the other way round)."""

import os

from tests.helpers import REPO
from tests.test_imports import imported_modules

FORBIDDEN = ("paramgen_jax.eval", "paramgen_jax.methods", "paramgen_jax.pipeline")


def _imports_under(folder):
  for name in sorted(os.listdir(folder)):
    if name.endswith(".py"):
      for module in imported_modules(os.path.join(folder, name)):
        yield name, module


def test_zoo_imports_no_eval_methods_or_pipeline():
  folder = os.path.join(REPO, "paramgen_jax", "zoo")
  wrong = [f"zoo/{name} imports {module}" for name, module in _imports_under(folder)
           if module.startswith(FORBIDDEN)]
  assert not wrong, "\n".join(wrong)


def test_eval_imports_no_methods_or_pipeline():
  folder = os.path.join(REPO, "paramgen_jax", "eval")
  wrong = [f"eval/{name} imports {module}" for name, module in _imports_under(folder)
           if module.startswith(FORBIDDEN[1:])]
  assert not wrong, "\n".join(wrong)
