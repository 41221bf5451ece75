"""Memory plans: every default config's evaluation and generation fit its budget (compiled,
never run); chunked prediction and training equal one vmap; an impossible budget fails in
one line."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from bench import scaling_targets as T
from paramgen_jax import data, memory
from paramgen_jax.errors import MemoryBudgetError
from paramgen_jax.methods import d2nwg, loragen, mapping, pdiff, rpg
from paramgen_jax.zoo import collect
from paramgen_jax.zoo import spec as zoo_spec
from paramgen_jax.zoo.accuracy import _predictor, predict_many
from paramgen_jax.zoo.models import make_target
from paramgen_jax.zoo.tasks import binary_task
from tests.helpers import load_config

GENERATORS = ("rpg_convnext", "rpg_vit_tiny", "rpg_mlp", "rpg_cnn", "rpg_resnet_mini",
              "rpg_unseen_binary", "cond_pdiff_lora",
              "pdiff_digits", "loragen_lora", "d2nwg_digits", "mapping_unseen_binary")
ZOOS = ("zoo_digits_convnext", "zoo_digits_binary", "zoo_digits_vit", "zoo_digits_lora")
PACKAGES = {"rpg": rpg, "pdiff": pdiff, "d2nwg": d2nwg, "loragen": loragen, "mapping": mapping}
# One target object per architecture: plans are cached per apply function, and configs that
# share a zoo then share their compiles (keeps this file fast).
_TARGETS = {}


def _shared(target):
  return _TARGETS.setdefault((type(target).__name__, target.name, target.module), target)


@pytest.fixture(scope="module")
def digits():
  return data.load_digits()


def _mlp_zoo(num_models, num_classes=3, hidden=(16,)):
  target = make_target("mlp", num_classes, hidden=hidden)
  keys = jax.random.split(jax.random.key(1), num_models)
  return target, jax.vmap(lambda k: target.init(k, jnp.zeros((1, 8, 8, 1))))(keys)


def _predict_plan(apply_fn, stacked, x, totals, budget):
  """(chunk sizes, their planned temporary bytes) of `predict_many`'s plan."""
  predict, sig = _predictor(apply_fn), memory.signature((stacked, x), (0, 1))
  sizes = memory.plan_chunks(predict, sig, totals, budget, what="prediction (models x examples)")
  return sizes, memory.memory_of(memory.compiled(predict, sig, sizes))["temp"]


def _temp(apply_fn, stacked, x, sizes):
  sig = memory.signature((stacked, x), (0, 1))
  return memory.memory_of(memory.compiled(_predictor(apply_fn), sig, sizes))["temp"]


def test_chunked_predictions_equal_one_vmap():
  target, stacked = _mlp_zoo(13)
  x = np.asarray(jax.random.normal(jax.random.key(0), (37, 8, 8, 1)))
  whole = np.asarray(jax.vmap(lambda p: jnp.argmax(target.apply(p, x), -1))(stacked))
  np.testing.assert_array_equal(predict_many(target.apply, stacked, x), whole)
  # Budgets that leave a few models on all examples, then one model on a few examples.
  for sizes in ((4, 37), (1, 9)):
    budget = _temp(target.apply, stacked, x, sizes)
    planned, temp = _predict_plan(target.apply, stacked, x, (13, 37), budget)
    assert temp <= budget and planned[0] <= sizes[0], planned
    if sizes[0] == 1:
      assert planned[0] == 1 and planned[1] < 37, planned  # chunks of examples too
    np.testing.assert_array_equal(predict_many(target.apply, stacked, x, budget_bytes=budget),
                                  whole)


def test_plans_are_cached():
  target, stacked = _mlp_zoo(5)
  x = np.zeros((11, 8, 8, 1), np.float32)
  budget = _temp(target.apply, stacked, x, (1, 4))
  predict_many(target.apply, stacked, x, budget_bytes=budget)
  compiles = memory.compiled.cache_info().misses
  predict_many(target.apply, stacked, x, budget_bytes=budget)
  assert memory.compiled.cache_info().misses == compiles


def test_one_model_on_one_example_over_budget_is_one_line():
  target, stacked = _mlp_zoo(3)
  with pytest.raises(MemoryBudgetError) as info:
    predict_many(target.apply, stacked, np.zeros((4, 8, 8, 1), np.float32), budget_bytes=16)
  message = str(info.value)
  assert "\n" not in message and message.endswith("raise config.memory.budget_gb")
  assert "GiB of temporary memory" in message and "size 1x1" in message


def test_budget_from_config():
  assert memory.budget_bytes(ml_collections.ConfigDict({"budget_gb": 0.5})) == 2**29
  assert memory.budget_bytes(None) == memory.DEFAULT_BUDGET_BYTES == 2**31


def test_training_in_chunks_of_tasks_equals_one_vmap(digits, monkeypatch):
  spec = ml_collections.ConfigDict(dict(
      seeds=(0,), tasks_per_unit=3, epochs=1, batch_size=256, lr=3e-3, save_lr=1e-5,
      warmup_steps=1, weight_decay=0.0, clip_norm=1.0, checkpoints=2, augment_shift=1,
      label_smoothing=0.0, shared_init=False))
  target = make_target("mlp", 2, hidden=(64,))
  tasks, ids = [binary_task(5), binary_task(300), binary_task(1000)], [0, 1, 2]
  plans, real = [], memory.plan_chunks

  def spy(fn, sig, totals, budget, **kwargs):
    plans.append((fn, sig, real(fn, sig, totals, budget, **kwargs)))
    return plans[-1][2]

  monkeypatch.setattr(memory, "plan_chunks", spy)
  whole, steps = collect.train_unit(target, digits, tasks, ids, 0, spec, progress=False)
  fn, sig, sizes = plans[-1]
  one, three = (memory.memory_of(memory.compiled(fn, sig, (k,)))["temp"] for k in (1, 3))
  assert sizes == (3,) and one < three
  chunked, steps_again = collect.train_unit(target, digits, tasks, ids, 0, spec,
                                            progress=False, budget_bytes=one)
  assert plans[-1][2] == (1,) and list(steps) == list(steps_again)
  for a, b in zip(jax.tree_util.tree_leaves(whole), jax.tree_util.tree_leaves(chunked)):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  with pytest.raises(MemoryBudgetError, match=r"or lower config\.collect\.batch_size$"):
    collect.train_unit(target, digits, tasks, ids, 0, spec, progress=False, budget_bytes=64)


# -- every default config, compiled without running ----------------------------------------

def _zoo_inputs(config, monkeypatch):
  """`build_zoo_inputs` without a workdir: a LoRA zoo's base model is zeros (init's shapes)."""
  def zero_base(config, workdir, dataset, train_base):
    base = make_target(config.model.name, dataset.num_classes, **dict(config.model.options))
    shapes = jax.eval_shape(base.init, jax.random.key(0), jnp.zeros((1,) + dataset.image_shape))
    return jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes), {}

  def zero_backbone(section, directory, dataset, collect_spec, *, train, budget_bytes,
                    held_out_classes=()):
    backbone = make_target("mlp", dataset.num_classes, hidden=tuple(section.hidden))
    shapes = jax.eval_shape(backbone.init, jax.random.key(0),
                            jnp.zeros((1,) + dataset.image_shape))
    return backbone, jax.tree_util.tree_map(lambda s: np.zeros(s.shape, s.dtype), shapes)

  monkeypatch.setattr(zoo_spec, "base_variables", zero_base)
  monkeypatch.setattr(zoo_spec.features_lib, "backbone", zero_backbone)
  target, dataset, tasks, splits, _ = zoo_spec.build_zoo_inputs(zoo_spec.zoo_sections(config), "no-workdir")
  target = _shared(target)
  template = jax.eval_shape(target.init, jax.random.key(0), jnp.asarray(dataset.x_train[:1]))
  seen = [t.name for t in tasks if splits[t.name] == "seen"]
  return target, dataset, tasks, seen, template


def _eval_workloads(config, dataset, num_tasks):
  """(models, examples) of the largest predictions a run makes: a collected unit on the
  training split, the whole zoo on test, the generated models of a task on train."""
  c = config.collect
  loads = {(min(c.tasks_per_unit, num_tasks) * c.checkpoints, len(dataset.y_train)),
           (num_tasks * len(c.seeds) * c.checkpoints, len(dataset.y_test))}
  if "generate" in config:
    loads.add((config.generate.get("num_models", 1), len(dataset.y_train)))
  return sorted(loads)


def _zoo_shape(config, seen):
  """What the generator of `config` takes from its zoo of `seen` tasks: the width of its
  condition vectors (LoRAGen: MiniLM text), its seen tasks and RPG's permutation states
  (checkpoints: all of them, or those of one condition)."""
  g = config.get("generator") or ml_collections.ConfigDict()
  kind = (config.condition.kind if config.method == "mapping" else
          "text" if config.method == "loragen" else g.get("condition"))
  dim = {"onehot": len(seen), **T.CONDITION_DIMS}.get(kind, 0)
  seeds, checkpoints = len(config.collect.seeds), config.collect.checkpoints
  permutations = {"checkpoint": seeds * checkpoints * (1 if dim else len(seen)),
                  "seed": seeds}.get(g.get("permutation"), 0)
  return T.ZooShape(dim, len(seen), permutations)


def _generation_plan(config, template, seen, num_models):
  """(models per call, their planned temporary bytes) of the method's `generate` of
  `num_models` models within the config's budget, on a generator built from shapes."""
  generator, conditions = T.abstract_generator(config.method, config, template, num_models,
                                               _zoo_shape(config, seen))
  key, budget = jax.random.key(1), memory.budget_bytes(config.get("memory"))
  size, run = memory.plan_generation(PACKAGES[config.method].generate, generator, key,
                                     conditions, num_models, budget,
                                     what=f"{config.method} generation")
  rows = memory.conditions_rows(conditions, 0, size)
  return size, memory.planned_bytes(run, generator, key, rows)["temp"]


@pytest.mark.parametrize("name", GENERATORS + ZOOS)
def test_default_config_fits_its_budget(name, monkeypatch):
  config = load_config(name)
  budget = memory.budget_bytes(config.get("memory"))
  target, dataset, tasks, seen, template = _zoo_inputs(config, monkeypatch)
  x = jax.ShapeDtypeStruct(dataset.x_train.shape[1:], jnp.float32)
  for models, examples in _eval_workloads(config, dataset, len(tasks)):
    stacked = jax.tree_util.tree_map(
        lambda s: jax.ShapeDtypeStruct((models,) + s.shape, s.dtype), template)
    xs = jax.ShapeDtypeStruct((examples,) + x.shape, x.dtype)
    sizes, temp = _predict_plan(target.apply, stacked, xs, (models, examples), budget)
    print(f"{name}: eval {models} models x {examples} examples in chunks {sizes}: "
          f"{temp / 2**20:.1f} MiB planned")
    assert temp <= budget
  if name in GENERATORS:
    # the mapping makes one model per task, every task in one call
    total = len(tasks) if config.method == "mapping" else config.generate.num_models
    size, temp = _generation_plan(config, template, seen, total)
    print(f"{name}: generate {total} models, {size} per call: {temp / 2**20:.1f} MiB planned")
    assert temp <= budget and size == total  # defaults: one call


# Configs whose programs are a default's with fewer tasks: (config, preset, that default).
SMALLER_SPLITS = (("rpg_unseen_binary", "far", "rpg_unseen_binary"),
                  ("mapping_unseen_binary", "far", "mapping_unseen_binary"),
                  ("d2nwg_held_out", None, "d2nwg_digits"))


@pytest.mark.parametrize("name, preset, default", SMALLER_SPLITS)
def test_other_splits_plan_the_programs_of_their_default_with_fewer_tasks(
    name, preset, default, monkeypatch):
  """The far-codes and held-out-digit configs differ from a default planned above only in
  which tasks they hold: the same target, generator, sections and budget, and no workload
  larger than the default's (so the default's fitting plans bound theirs, uncompiled)."""
  config, base = load_config(name, preset), load_config(default)
  same = ("model", "generator", "train", "sample", "generate", "memory", "data")
  for section in same:
    assert config.get(section) == base.get(section), section
  (_, dataset, tasks, seen, _), (_, _, base_tasks, base_seen, _) = (
      _zoo_inputs(c, monkeypatch) for c in (config, base))
  assert len(tasks) <= len(base_tasks) and len(seen) <= len(base_seen)
  for (models, examples), (base_models, base_examples) in zip(
      _eval_workloads(config, dataset, len(tasks)),
      _eval_workloads(base, dataset, len(base_tasks)), strict=True):
    assert models <= base_models and examples == base_examples
  shape, base_shape = _zoo_shape(config, seen), _zoo_shape(base, base_seen)
  assert shape.condition_dim == base_shape.condition_dim
  assert shape.num_permutations <= base_shape.num_permutations


def test_convnext_evaluate_unit_was_over_budget_and_now_fits(digits):
  """The README's main command died here: 50 ConvNeXt-mini x 1295 training images at once."""
  target = _shared(make_target("convnext_mini", 10))
  template = jax.eval_shape(target.init, jax.random.key(0), jnp.zeros((1, 8, 8, 1)))
  stacked = jax.tree_util.tree_map(lambda s: jax.ShapeDtypeStruct((50,) + s.shape, s.dtype),
                                   template)
  x = jax.ShapeDtypeStruct((1295, 8, 8, 1), jnp.float32)
  old = memory.planned_bytes(_predictor(target.apply), stacked, x)["temp"]
  sizes, new = _predict_plan(target.apply, stacked, x, (50, 1295), memory.DEFAULT_BUDGET_BYTES)
  print(f"50 ConvNeXt-mini x 1295: unchunked {old / 1e9:.1f} GB planned; chunks {sizes}: "
        f"{new / 1e9:.2f} GB")
  assert old > 20e9 and new <= memory.DEFAULT_BUDGET_BYTES


def _leaves_close(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def test_rpg_generation_planned_in_chunks_makes_the_protocols_models(monkeypatch):
  """RPG through the planner, one model per call: chunk c is `generate` of one model with
  fold_in(key, c) (the protocol's rule: a model's draw depends on the call that makes it;
  one call making them all is `generate` itself, tested on the toy above)."""
  config = load_config("rpg_convnext", "smoke")
  template = jax.eval_shape(make_target("mlp", 2, hidden=(4,)).init, jax.random.key(0),
                            jnp.zeros((1, 8, 8, 1)))
  generator, _ = T.abstract_generator("rpg", config, template, 3, _zoo_shape(config, ["full"]))
  rng = np.random.default_rng(0)  # random weights without running init (slow to compile)
  params = jax.tree_util.tree_map(lambda s: 0.3 * rng.standard_normal(s.shape, np.float32),
                                  generator.params)
  generator, key = generator.replace(params=params), jax.random.key(1)
  # A plan of one model per call (the planner itself is tested above; this saves compiles).
  monkeypatch.setattr(memory, "plan_sizes", lambda measure, totals, budget, **_: (1,))
  models = memory.generate_within_budget(rpg.generate, generator, key, None, 3, 2**30,
                                         what="RPG generation in chunks of one model")
  one = jax.jit(lambda g, k: rpg.generate(g, k, None, 1))
  for c in range(3):
    chunk = jax.tree_util.tree_map(lambda a: a[c:c + 1], models)
    for a, b in zip(jax.tree_util.tree_leaves(chunk),
                    jax.tree_util.tree_leaves(one(generator, jax.random.fold_in(key, c))),
                    strict=True):
      np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
  kernel = np.asarray(jax.tree_util.tree_leaves(models)[-1])
  assert np.isfinite(kernel).all() and not np.allclose(kernel[0], kernel[1])  # models differ


def _toy_generate(generator, key, conditions, num_models):
  """A protocol-shaped generator: num_models noisy copies of w shifted by their condition."""
  noise = jax.random.normal(key, (num_models, 64, 64))
  hidden = jnp.tanh(noise @ noise)  # temporaries grow with num_models
  return {"w": generator["w"][None] * hidden.mean((1, 2))[:, None] + conditions}


def test_generation_within_budget_is_one_call_when_it_fits_and_chunks_by_fold_in_when_not():
  generator, key = {"w": jnp.ones(3)}, jax.random.key(0)
  conditions = jnp.arange(12.0)[:, None] * jnp.ones((12, 3))
  jitted = jax.jit(_toy_generate, static_argnums=3)
  whole = memory.generate_within_budget(_toy_generate, generator, key, conditions, 12, 2**30,
                                        what="toy")
  np.testing.assert_array_equal(whole["w"], jitted(generator, key, conditions, 12)["w"])
  one_model = memory.planned_bytes(jax.jit(lambda g, k, c: _toy_generate(g, k, c, 1)),
                                   generator, key, conditions[:1])["temp"]
  count, _ = memory.plan_generation(_toy_generate, generator, key, conditions, 12,
                                    5 * one_model, what="toy")
  assert 1 <= count < 12
  chunked = memory.generate_within_budget(_toy_generate, generator, key, conditions, 12,
                                          5 * one_model, what="toy")
  for first in range(0, 12, count):
    part = jitted(generator, jax.random.fold_in(key, first // count),
                  memory.conditions_rows(conditions, first, count), count)["w"]
    np.testing.assert_array_equal(chunked["w"][first:first + count], part[:12 - first])


def test_generation_over_8_devices_equals_one_and_plans_each_devices_share():
  """13 models on 8 devices: 16 made (two per device), 13 kept, the same as one device's;
  with a budget of 5 models' temporaries per device the calls hold a multiple of 8."""
  mesh = memory.device_mesh()
  assert mesh is not None and mesh.size == 8 and memory.device_mesh(jax.devices()[:1]) is None
  generator, key = {"w": jnp.ones(3)}, jax.random.key(0)
  conditions = jnp.arange(13.0)[:, None] * jnp.ones((13, 3))
  one = memory.generate_within_budget(_toy_generate, generator, key, conditions, 13, 2**30,
                                      what="toy")
  eight = memory.generate_within_budget(_toy_generate, generator, key, conditions, 13, 2**30,
                                        what="toy", mesh=mesh)
  np.testing.assert_allclose(eight["w"], one["w"], rtol=1e-6, atol=1e-6)
  one_model = memory.planned_bytes(jax.jit(lambda g, k, c: _toy_generate(g, k, c, 1)),
                                   generator, key, conditions[:1])["temp"]
  count, run = memory.plan_generation(_toy_generate, generator, key, conditions, 13,
                                      5 * one_model, what="toy", mesh=mesh)
  assert count % 8 == 0 and 8 <= count < 13 * 8
  assert run(generator, key, conditions[:1].repeat(count, 0))["w"].sharding.spec[0] in (
      "models", ("models",))


def test_generation_plans_unconditional_generators_and_refuses_a_budget_nothing_fits():
  generate = lambda g, k, c, n: {"w": g["w"][None] * jax.random.normal(k, (n, 3))}
  count, run = memory.plan_generation(generate, {"w": jnp.ones(3)}, jax.random.key(0), None, 4,
                                      2**30, what="toy")
  assert count == 4 and run({"w": jnp.ones(3)}, jax.random.key(0), None)["w"].shape == (4, 3)
  with pytest.raises(MemoryBudgetError, match="toy"):
    memory.plan_generation(_toy_generate, {"w": jnp.ones(3)}, jax.random.key(0),
                           jnp.zeros((4, 3)), 4, 1, what="toy")
