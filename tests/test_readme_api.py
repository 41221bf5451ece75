"""The documented Python examples run as written (README's quickstart runs, as written, in
the quickstart notebook: tests/test_notebooks.py).

docs/api.md's loop: all five methods train on a user's model with awkward leaves (an
embedding table, BatchNorm statistics, a bfloat16 kernel), generate models with the
originals' tree, shapes and dtypes that are finite and classify within 5 points of the
originals, and each saved generator, loaded back from its directory, generates the same bytes
(each method's pipeline tests load saved generators in a fresh process)."""

import json
import os

import pytest

from tests.helpers import REPO, run_python

BEGIN, END = "<!-- api-snippet:begin -->", "<!-- api-snippet:end -->"
METHODS = ("rpg", "pdiff", "loragen", "d2nwg", "mapping")

CHECK = """
import json
from paramgen_jax.integrity import tree_checksum

def shapes(tree):
  return (str(jax.tree_util.tree_structure(tree)),
          [(a.shape, str(a.dtype)) for a in jax.tree_util.tree_leaves(tree)])

one = jax.tree.map(lambda a: a[0], zoo)
originals = np.mean([accuracy(jax.tree.map(lambda a: a[i], zoo), t) for i, t in enumerate(tasks)])
found = {}
for name, models in generated.items():
  assert shapes(jax.tree.map(lambda a: a[0], models)) == shapes(one), name
  assert all(bool(jnp.all(jnp.isfinite(a.astype(jnp.float32))))
             for a in jax.tree_util.tree_leaves(models)), name
  acc = np.mean([accuracy(jax.tree.map(lambda a: a[i], models), t) for i, t in enumerate(tasks)])
  found[name] = {"accuracy": float(acc), "checksum": tree_checksum(models)}
json.dump({"originals": float(originals), "methods": found}, open("found.json", "w"))
"""

RELOAD = """
# Each generator back from its directory (what a later session loads) makes the same bytes.
reloaded = {}
for method in (rpg, pdiff, loragen, d2nwg, mapping):
  name = method.__name__.split(".")[-1]
  again = method.load(f"generators/{name}")
  models = jax.jit(method.generate, static_argnames="num_models")(
      again, key, conditions[method], num_models=16)
  reloaded[name] = tree_checksum(models)
json.dump(reloaded, open("reloaded.json", "w"))
"""


def snippet(path: str, begin: str = BEGIN, end: str = END) -> str:
  """The code between two markers of a markdown file, without its fences."""
  text = open(os.path.join(REPO, path)).read()
  block = text.split(begin, 1)[1].split(end, 1)[0]
  return "\n".join(line for line in block.strip().splitlines() if not line.startswith("```"))


def readme_snippet() -> str:
  return snippet("docs/api.md")


@pytest.mark.slow
@pytest.mark.first
def test_readme_loop_trains_all_five_methods_and_their_saved_generators_reload(tmp_path):
  # With XLA's fast-compile flags (the suite's) the loop takes a fifth less CPU than with its
  # optimizations: compiling outweighs the slower training at these sizes.
  printed = run_python(readme_snippet() + CHECK + RELOAD, cwd=str(tmp_path), timeout=900)
  found = json.load(open(tmp_path / "found.json"))
  for name in METHODS:
    assert f"{name}: generated models' accuracy" in printed
    got = found["methods"][name]["accuracy"]
    assert got >= found["originals"] - 0.05, (name, got, found["originals"])
  reloaded = json.load(open(tmp_path / "reloaded.json"))
  assert reloaded == {name: found["methods"][name]["checksum"] for name in METHODS}
