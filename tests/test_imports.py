"""The package's import arrows point one way: no method imports another method, and nothing
below the methods imports one."""

import ast
import os

from tests.helpers import REPO

PACKAGE = os.path.join(REPO, "paramgen_jax")
METHODS = os.path.join(PACKAGE, "methods")


def imported_modules(path):
  """Absolute module names a source file imports (relative imports resolved)."""
  tree = ast.parse(open(path).read(), path)
  package = os.path.relpath(os.path.dirname(path), REPO).replace(os.sep, ".")
  names = []
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names += [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        parts = package.split(".")
        base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
      names += [f"{base}.{alias.name}" for alias in node.names] + [base]
  return names


def method_of(module):
  """'rpg' for 'paramgen_jax.methods.rpg.core'; None outside the methods."""
  parts = module.split(".")
  return parts[2] if parts[:2] == ["paramgen_jax", "methods"] and len(parts) > 2 else None


def source_files():
  for root, _, files in os.walk(PACKAGE):
    for name in files:
      if name.endswith(".py"):
        yield os.path.join(root, name)


def test_methods_never_import_each_other_and_nothing_below_imports_them():
  methods = {d for d in os.listdir(METHODS) if os.path.isdir(os.path.join(METHODS, d))
             and not d.startswith("__")}
  assert {"rpg", "pdiff", "zoo", "toy_gmm"} <= methods
  wrong = []
  for path in source_files():
    module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
    mine = method_of(module)
    for name in imported_modules(path):
      theirs = method_of(name)
      if theirs in methods and theirs != mine:
        wrong.append(f"{module} imports {name}")
  assert not wrong, "\n".join(wrong)


def test_the_walker_sees_a_cross_import(tmp_path):
  path = tmp_path / "x.py"
  path.write_text("from paramgen_jax.methods import rpg\nimport paramgen_jax.methods.pdiff.core\n")
  assert {method_of(n) for n in imported_modules(str(path))} >= {"rpg", "pdiff"}
