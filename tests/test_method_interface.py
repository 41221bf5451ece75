"""Every method folder exposes the same small interface, found by name."""

import inspect

import pytest

from paramgen_jax import configlib, pipeline

STAGE_FUNCTIONS = ("validate", "collect", "train", "sample", "evaluate")


@pytest.mark.parametrize("name", pipeline.known_methods())
def test_stages_module_has_every_stage_with_a_docstring(name):
  module = pipeline.method_module(name)
  assert isinstance(module.SCHEMA, dict) and "method" in module.SCHEMA
  for function in STAGE_FUNCTIONS:
    stage = getattr(module, function)
    assert list(inspect.signature(stage).parameters)[:1] == ["config"], (name, function)
    assert inspect.getdoc(stage), f"{name}.stages.{function} has no docstring"


def test_known_methods_and_an_unknown_one():
  assert {"rpg", "pdiff", "loragen", "d2nwg", "mapping", "zoo",
          "toy_gmm"} <= set(pipeline.known_methods())
  with pytest.raises(configlib.ConfigError,
                     match="unknown method 'nope' .*known: d2nwg, loragen, mapping"):
    pipeline.method_module("nope")
