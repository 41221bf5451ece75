"""Every method folder exposes the same small interface, found by name: the pipeline's stages
(stages.py) and, for every method that generates models, the protocol of
`paramgen_jax.protocol` (its package's `small_config`, `train`, `generate`, `save`, `load`)."""

import importlib
import inspect

import pytest

from paramgen_jax import configlib, pipeline

STAGE_FUNCTIONS = ("validate", "collect", "train", "sample", "evaluate")
NOT_GENERATORS = {"zoo"}  # collects and scores zoos; generates nothing
PROTOCOL = {
    "small_config": [],
    "train": [("zoo", "POSITIONAL_OR_KEYWORD"), ("config", "POSITIONAL_OR_KEYWORD"),
              ("conditions", "KEYWORD_ONLY"), ("workdir", "KEYWORD_ONLY")],
    "generate": [("generator", "POSITIONAL_OR_KEYWORD"), ("key", "POSITIONAL_OR_KEYWORD"),
                 ("conditions", "POSITIONAL_OR_KEYWORD"), ("num_models", "POSITIONAL_OR_KEYWORD")],
    "save": [("generator", "POSITIONAL_OR_KEYWORD"), ("path", "POSITIONAL_OR_KEYWORD")],
    "load": [("path", "POSITIONAL_OR_KEYWORD")],
}
GENERATORS = [name for name in pipeline.known_methods() if name not in NOT_GENERATORS]


@pytest.mark.parametrize("name", pipeline.known_methods())
def test_stages_module_has_every_stage_with_a_docstring(name):
  module = pipeline.method_module(name)
  assert isinstance(module.SCHEMA, dict) and "method" in module.SCHEMA
  for function in STAGE_FUNCTIONS:
    stage = getattr(module, function)
    assert list(inspect.signature(stage).parameters)[:1] == ["config"], (name, function)
    assert inspect.getdoc(stage), f"{name}.stages.{function} has no docstring"


@pytest.mark.parametrize("name", GENERATORS)
def test_every_generator_speaks_the_protocol_with_docstrings(name):
  package = importlib.import_module(f"paramgen_jax.methods.{name}")
  for function, wanted in PROTOCOL.items():
    found = getattr(package, function, None)
    assert callable(found), f"paramgen_jax.methods.{name} exports no {function}"
    assert inspect.getdoc(found), f"{name}.{function} has no docstring"
    params = list(inspect.signature(found).parameters.values())
    got = [(p.name, p.kind.name) for p in params[:len(wanted)]]
    assert got == wanted, (name, function, got)
    extra = [p for p in params[len(wanted):] if p.default is inspect.Parameter.empty]
    assert not extra, f"{name}.{function}: extra arguments without defaults {extra}"
  assert inspect.isclass(package.Generator)
  config = package.small_config()
  assert hasattr(config, "to_json_best_effort"), name


def test_the_protocol_covers_the_five_papers_and_the_known_answer_check():
  assert {"rpg", "pdiff", "loragen", "d2nwg", "mapping", "toy_gmm"} <= set(GENERATORS)


def test_known_methods_and_an_unknown_one():
  assert {"rpg", "pdiff", "loragen", "d2nwg", "mapping", "zoo",
          "toy_gmm"} <= set(pipeline.known_methods())
  with pytest.raises(configlib.ConfigError,
                     match="unknown method 'nope' .*known: d2nwg, loragen, mapping"):
    pipeline.method_module("nope")
