"""The package's import arrows point one way, floor by floor:

  cli -> pipeline -> methods -> eval / zoo / train / runfiles / artifact -> params / nn /
  diffusion / data / text -> errors / integrity / memory / configlib / rundir / protocol /
  hosts

No method imports another method, nothing below the methods imports one, and a method's
in-memory code (core.py, model.py) depends on nothing above the training engine."""

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


FLOORS = (
    {"errors", "integrity", "memory", "configlib", "rundir", "protocol", "hosts", "precision",
     "__init__"},
    {"params", "nn", "diffusion", "data", "text"},
    {"train", "zoo", "eval", "runfiles", "artifact"},
    {"methods"},
    {"pipeline"},
    {"cli"},
)
ABOVE_THE_ENGINE = {"eval", "runfiles", "pipeline"}


def floor_of(module):
  """The floor of 'paramgen_jax.<top>...' (None outside the package)."""
  parts = module.split(".")
  if parts[0] != "paramgen_jax":
    return None
  top = parts[1] if len(parts) > 1 and not parts[1].startswith("__") else "__init__"
  found = [i for i, names in enumerate(FLOORS) if top in names]
  assert found, f"{module}: its top-level module {top!r} has no floor in tests/test_imports.py"
  return found[0]


def package_imports():
  for path in source_files():
    module = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
    yield module, [n for n in imported_modules(path) if n.split(".")[0] == "paramgen_jax"]


def test_every_module_imports_only_its_floor_or_below():
  wrong = [f"{module} (floor {floor_of(module)}) imports {name} (floor {floor_of(name)})"
           for module, names in package_imports() for name in names
           if floor_of(name) > floor_of(module)]
  assert not wrong, "\n".join(wrong)


def in_memory_modules(imports):
  """Each method's core and every module of the same method it imports, transitively."""
  found = set()
  todo = [m for m in imports if m.split(".")[1:2] == ["methods"] and m.endswith(".core")]
  while todo:
    module = todo.pop()
    if module in found or module not in imports:
      continue
    found.add(module)
    prefix = ".".join(module.split(".")[:3]) + "."
    todo += [n for n in imports[module] if n.startswith(prefix)]
  return found


def test_in_memory_method_code_depends_on_nothing_above_the_training_engine():
  imports = dict(package_imports())
  modules = in_memory_modules(imports)
  assert {"paramgen_jax.methods.rpg.core", "paramgen_jax.methods.rpg.model"} <= modules
  wrong = [f"{module} imports {name}" for module in sorted(modules) for name in imports[module]
           if (name.split(".") + [""])[1] in ABOVE_THE_ENGINE or name.endswith(".stages")]
  assert not wrong, "\n".join(wrong)


def test_the_floor_walker_sees_an_upward_import():
  assert floor_of("paramgen_jax.params.codec") < floor_of("paramgen_jax.methods.rpg.core")
  assert floor_of("paramgen_jax.pipeline") < floor_of("paramgen_jax.cli.run")
  assert floor_of("paramgen_jax.cli") == len(FLOORS) - 1
