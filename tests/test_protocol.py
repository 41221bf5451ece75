"""The protocol's bad input, for every method: a count of models below 1 is one line before
anything else is read. (The whole user loop, train -> generate -> jit -> save -> load in a
fresh process, on a model with awkward leaves, is README's example: tests/test_readme_api.py;
each method's wrong-width conditions and damaged generator directories are in its own
tests/methods/test_<name>_*.py.)"""

import importlib

import jax
import pytest

METHODS = ("rpg", "pdiff", "loragen", "d2nwg", "mapping", "toy_gmm")


@pytest.mark.parametrize("name", METHODS)
@pytest.mark.parametrize("count", [0, -3])
def test_generate_refuses_a_count_below_one_in_one_line(name, count):
  method = importlib.import_module(f"paramgen_jax.methods.{name}")
  with pytest.raises(ValueError, match="num_models") as found:
    method.generate(None, jax.random.key(0), None, count)
  assert "\n" not in str(found.value)
