"""Config checking: unknown keys, wrong types, impossible values, each named in one line."""

import os

import ml_collections
import pytest

from paramgen_jax import configlib as C
from paramgen_jax import pipeline
from paramgen_jax.cli.catalog import catalog
from paramgen_jax.configlib import preset_names
from tests.helpers import REPO, load_config


def check(config, num_devices=1):
  pipeline.validate(config, num_devices)


@pytest.mark.parametrize("name, presets", [
    ("toy_gmm", ("smoke", None)),
    ("zoo_digits_binary", ("smoke", None, "far", "far_smoke")),
    ("zoo_digits_convnext", ("smoke", None)),
    ("rpg_convnext", ("smoke", None, "paper", "no_relation", "quick")),
    ("rpg_unseen_binary", ("smoke", None, "paper", "layer", "ridge", "mamba1", "far",
                           "far_smoke")),
    ("zoo_digits_vit", ("smoke", None)),
    ("d2nwg_held_out", ("smoke", None, "paper")),
    ("rpg_vit_tiny", ("smoke", None, "paper", "mamba1")),
    ("zoo_digits_mlp", ("smoke", None)), ("zoo_digits_cnn", ("smoke", None)),
    ("zoo_digits_resnet_mini", ("smoke", None)), ("rpg_mlp", ("smoke", None, "paper")),
    ("rpg_cnn", ("smoke", None, "paper")), ("rpg_resnet_mini", ("smoke", None, "paper")),
    ("zoo_digits_lora", ("smoke", None, "zeroshot", "zeroshot_smoke")),
    ("pdiff_digits", ("smoke", None, "paper", "quick")),
    ("loragen_lora", ("smoke", None, "paper", "quick", "official_losses", "no_direction",
                      "no_spectral", "no_moe", "no_structural", "rho80", "rho100", "top2", "e8",
                      "shared_pool")),
    ("d2nwg_digits", ("smoke", None, "paper", "quick", "no_vae", "mlp_encoder", "ranked", "tasks25",
                      "tasks50", "tasks100", "mixed")),
    ("mapping_unseen_binary", ("smoke", None, "paper", "quick", "hybrid_conv", "direct", "far",
                               "far_smoke", "k1",
                               "k3", "k7", "k9", "alpha0",
                               "alpha05", "alpha075", "alpha15", "tasks5", "tasks25",
                               "tasks100", "tasks300", "sequential", "text", "block_L",
                               "block_C", "block_R", "block_LC", "block_LR", "block_RC")),
    ("cond_pdiff_lora", ("smoke", None, "paper", "batch_norm", "no_norm", "onehot", "learned",
                         "description", "data", "n1", "n3", "zeroshot", "nearest_stats"))])
def test_shipped_configs_validate(name, presets):
  for arg in presets:
    check(load_config(name, arg))


def test_rpg_configs_share_their_zoo_sections_with_the_zoo_configs():
  for rpg, zoo in (("rpg_convnext", "zoo_digits_convnext"), ("rpg_vit_tiny", "zoo_digits_vit"),
                   ("rpg_mlp", "zoo_digits_mlp"), ("rpg_cnn", "zoo_digits_cnn"),
                   ("rpg_resnet_mini", "zoo_digits_resnet_mini"),
                   ("rpg_unseen_binary", "zoo_digits_binary"),
                   ("mapping_unseen_binary", "zoo_digits_binary"),
                   ("cond_pdiff_lora", "zoo_digits_lora"),
                   ("loragen_lora", "zoo_digits_lora:zeroshot")):
    for arg in ("smoke", None):
      zoo_name, _, zoo_arg = zoo.partition(":")
      zoo_arg = zoo_arg and (zoo_arg + "_smoke" if arg == "smoke" else zoo_arg)
      a, b = load_config(rpg, arg), load_config(zoo_name, zoo_arg or arg)
      for section in ("data", "model", "tasks", "collect", "memory"):
        assert a[section].to_dict() == b[section].to_dict(), (rpg, arg, section)
  for name in ("rpg_unseen_binary", "mapping_unseen_binary"):  # the far-codes zoo
    for arg in ("far", "far_smoke"):
      a, b = load_config(name, arg), load_config("zoo_digits_binary", arg)
      for section in ("data", "model", "tasks", "collect", "memory"):
        assert a[section].to_dict() == b[section].to_dict(), (name, arg, section)


def test_every_config_file_is_checked():
  shipped = {f[:-3] for f in os.listdir(os.path.join(REPO, "configs"))
             if f.endswith(".py") and not f.startswith("_")}
  assert shipped == {"toy_gmm", "zoo_digits_binary", "zoo_digits_convnext", "rpg_convnext",
                     "rpg_unseen_binary", "zoo_digits_vit", "rpg_vit_tiny", "zoo_digits_lora",
                     "pdiff_digits", "cond_pdiff_lora", "loragen_lora", "d2nwg_digits",
                     "mapping_unseen_binary", "zoo_digits_mlp", "zoo_digits_cnn",
                     "zoo_digits_resnet_mini", "rpg_mlp", "rpg_cnn", "rpg_resnet_mini",
                     "d2nwg_held_out", "leaderboard"}  # not a pipeline config: tests/eval/test_leaderboard.py


@pytest.mark.parametrize("mutate, message", [
    (lambda c: c.train.update(stepz=3), r"^config\.train\.stepz: unknown key \(known: b1, b2,"),
    (lambda c: c.train.update(steps=0), r"^config\.train\.steps: must be >= 1, got 0$"),
    (lambda c: c.train.update(lr=-1.0), r"^config\.train\.lr: must be > 0\.0, got -1\.0$"),
    (lambda c: c.train.update(warmup_steps=10**9), r"^config\.train\.warmup_steps: must be <="),
    (lambda c: c.train.update(fsdp_min_size=-1),
     r"^config\.train\.fsdp_min_size: must be >= 0, got -1$"),
    (lambda c: c.sample.update(sampler="euler"), r"^config\.sample\.sampler: must be one of"),
    (lambda c: c.diffusion.update(beta_start=0.5), r"^config\.diffusion\.beta_start: must be <"),
    (lambda c: c.sample.update(steps=5000), r"^config\.sample\.steps: must be <= diffusion"),
    (lambda c: c.data.update(weights=(0.5, 0.6)), r"^config\.data\.weights: must be positive"),
    (lambda c: c.update(method="pdiff9"), r"^config\.method: unknown method 'pdiff9'"),
    (lambda c: c.update(mesh={"data": 3}), r"^config\.mesh: .* does not fit the 1 available"),
])
def test_bad_values_are_named(mutate, message):
  config = load_config("toy_gmm", "smoke")
  config.unlock()
  mutate(config)
  with pytest.raises(C.ConfigError, match=message):
    check(config)


@pytest.mark.parametrize("name, presets", [
    ("toy_gmm", ("smoke", None)), ("rpg_convnext", ("smoke", None, "paper", "no_relation")),
    ("rpg_vit_tiny", ("smoke", None, "paper")), ("rpg_unseen_binary", ("smoke", None, "paper")),
    ("rpg_mlp", ("smoke", None, "paper")), ("rpg_cnn", ("smoke", None, "paper")),
    ("rpg_resnet_mini", ("smoke", None, "paper")),
    ("pdiff_digits", ("smoke", None, "paper")), ("cond_pdiff_lora", ("smoke", None, "paper"))])
def test_train_sections_split_only_leaves_of_4_mib(name, presets):
  """2**20 elements: every smoke and default generator stays replicated (see
  paramgen_jax/train/sharding.py); a section without the key is refused."""
  for arg in presets:
    config = load_config(name, arg)
    for section in ("train", "autoencoder_train"):
      if section in config:
        assert config[section].fsdp_min_size == 2**20, (name, arg, section)
  del config.train.fsdp_min_size
  with pytest.raises(C.ConfigError, match=r"^config\.train\.fsdp_min_size: missing$"):
    check(config)


def with_values(**section_values):
  """The smoke config rebuilt from a dict, bypassing ConfigDict's own type guard."""
  values = load_config("toy_gmm", "smoke").to_dict()
  for dotted, value in section_values.items():
    section, key = dotted.split("__")
    values[section][key] = value
  return ml_collections.ConfigDict(values)


def test_types():
  with pytest.raises(C.ConfigError, match=r"config\.train\.steps: must be of type int, got 3\.5"):
    check(with_values(train__steps=3.5))
  with pytest.raises(C.ConfigError, match=r"config\.train\.steps: must be of type int"):
    check(with_values(train__steps=True))  # a bool is not an int here
  with pytest.raises(C.ConfigError, match=r"config\.data\.means: must be a list of float"):
    check(with_values(data__means=("a", "b")))
  with pytest.raises(C.ConfigError, match=r"config\.model: must be a section"):
    check(ml_collections.ConfigDict({**with_values().to_dict(), "model": 3}))
  check(with_values(train__lr=1))  # an int is a fine float


def test_batch_must_split_over_data_devices():
  config = load_config("toy_gmm", "smoke")
  config.train.batch_size = 250
  with pytest.raises(C.ConfigError, match=r"config\.train\.batch_size: must be divisible by "
                                          r"the 8 data-parallel devices, got 250: use 256$"):
    check(config, num_devices=8)


@pytest.mark.parametrize("name", [entry.name for entry in catalog()
                                  if entry.name != "leaderboard"])
def test_every_preset_runs_unchanged_on_1_to_8_devices(name):
  """The batches are global: rounded up to a multiple of the data-parallel devices."""
  for preset in preset_names(name):
    for devices in (1, 2, 3, 4, 8):
      config = load_config(name, preset)
      before = {s: config[s].batch_size for s in C.train_sections(config)}
      lines = C.fit_batches_to_devices(config, devices)
      check(config, num_devices=devices)
      for section, batch in before.items():
        grown = config[section].batch_size
        assert grown % devices == 0 and batch <= grown < batch + devices, (name, preset)
      assert len(lines) == sum(b % devices != 0 for b in before.values()), lines


def test_rounding_a_batch_is_one_line_and_a_mesh_that_does_not_fit_is_named():
  config = load_config("rpg_convnext")
  assert C.train_sections(config) == ["train"] and config.train.batch_size == 2
  assert C.fit_batches_to_devices(config, 2) == []
  assert C.fit_batches_to_devices(config, 8) == [
      "train.batch_size 2 -> 8: the global batch is rounded up to a multiple of the 8 "
      "data-parallel devices"]
  assert sorted(C.train_sections(load_config("d2nwg_digits"))) == [
      "align_train", "predictor_train", "train", "vae_train"]
  config = load_config("toy_gmm", "smoke")
  config.mesh = {"data": 3}
  assert C.fit_batches_to_devices(config, 8) == []
  with pytest.raises(C.ConfigError, match=r"^config\.mesh: .* does not fit the 8"):
    check(config, num_devices=8)


def test_unknown_preset():
  with pytest.raises(ValueError, match="unknown"):
    load_config("toy_gmm", "huge")


def test_optional_sections_are_checked_only_when_present():
  schema = {"a": C.integer(0), "extra": C.optional_section({"rank": C.integer(1)})}
  C.check_config({"a": 1}, schema)
  C.check_config({"a": 1, "extra": None}, schema)
  C.check_config({"a": 1, "extra": {"rank": 2}}, schema)
  with pytest.raises(C.ConfigError, match=r"^config\.extra\.rank: must be >= 1, got 0$"):
    C.check_config({"a": 1, "extra": {"rank": 0}}, schema)


@pytest.mark.parametrize("name", ["zoo_digits_convnext", "zoo_digits_binary", "rpg_convnext",
                                  "rpg_vit_tiny", "rpg_unseen_binary", "zoo_digits_vit",
                                  "rpg_mlp", "rpg_cnn", "rpg_resnet_mini", "zoo_digits_mlp",
                                  "zoo_digits_cnn", "zoo_digits_resnet_mini",
                                  "zoo_digits_lora", "pdiff_digits", "cond_pdiff_lora"])
def test_zoo_configs_have_a_memory_budget(name):
  config = load_config(name)
  assert config.memory.budget_gb == 2.0
  config.memory.budget_gb = 0.0
  with pytest.raises(C.ConfigError, match=r"^config\.memory\.budget_gb: must be > 0\.0, got 0\.0$"):
    check(config)
  del config.memory
  with pytest.raises(C.ConfigError, match=r"^config\.memory: missing$"):
    check(config)


@pytest.mark.parametrize("name, mutate, message", [
    ("zoo_digits_lora", lambda c: c.adapter.update(targets=("query", "ffn")),
     r"^config\.adapter\.targets: must be a non-empty"),
    ("zoo_digits_lora", lambda c: c.model.update(name="mlp"),
     r"^config\.adapter: LoRA adapters need"),
    ("pdiff_digits", lambda c: c.generator.update(condition="data"),
     r"^config\.generator\.condition: 'data' uses"),
    ("cond_pdiff_lora", lambda c: c.generator.update(condition="none"),
     r"^config\.generator\.condition: an unconditional"),
    ("cond_pdiff_lora", lambda c: c.generator.update(condition="onehot", unseen_stats="ridge"),
     r"^config\.generator\.unseen_stats: 'ridge' regresses"),
    ("d2nwg_digits", lambda c: c.tasks.update(split="far_codes"),
     r"^config\.tasks\.split: 'far_codes' needs tasks\.kind = 'binary', got 'subset'$"),
    ("zoo_digits_binary", lambda c: c.tasks.update(split="held_out_classes"),
     r"^config\.tasks\.split: 'held_out_classes' needs tasks\.kind = 'subset'"),
    ("d2nwg_digits", lambda c: c.tasks.update(held_out_classes=(9,)),
     r"^config\.tasks\.held_out_classes: must be non-empty exactly when"),
    ("d2nwg_held_out", lambda c: c.tasks.update(split="nearest"),
     r"^config\.tasks\.split: must be one of"),
])
def test_lora_zoo_and_pdiff_checks(name, mutate, message):
  config = load_config(name, "smoke")
  mutate(config)
  with pytest.raises(C.ConfigError, match=message):
    check(config)


# -- building config files: train_section, preset tables, the one loader ------------------

def test_train_section_writes_every_schema_key_once():
  assert set(C.TRAIN_DEFAULTS) < set(C.TRAIN_SCHEMA)
  section = C.train_section(steps=10, batch_size=4, lr=1e-3, ema_decay=0.9)
  assert set(section) == set(C.TRAIN_SCHEMA) and section["ema_decay"] == 0.9
  C.check_config(section, C.TRAIN_SCHEMA)
  with pytest.raises(C.ConfigError, match=r"^train_section: unknown key 'stepz' \(known: b1,"):
    C.train_section(stepz=10, batch_size=4, lr=1e-3)
  with pytest.raises(C.ConfigError, match=r"^train_section: steps, lr must be given$"):
    C.train_section(batch_size=4)


@pytest.mark.parametrize("as_config_dict", [False, True])
def test_overrides_set_dotted_keys_shallower_first(as_config_dict):
  base = {"train": {"steps": 1, "lr": 0.1}, "model": {"options": {"a": 1}}, "extra": {"b": 2}}
  config = ml_collections.ConfigDict(base) if as_config_dict else base
  table = {"model.options.width": 8, "model.options": {"width": 2}, "train.steps": 5,
           "extra": C.DELETE}
  C.apply_overrides(config, table)  # the section is replaced first, then its key set
  assert config["model"]["options"]["width"] == 8 and config["train"]["steps"] == 5
  assert "extra" not in config and table["model.options"] == {"width": 2}
  with pytest.raises(C.ConfigError, match=r"^config\.train\.stepz: unknown key \(known: lr, "
                                          r"steps\)$"):
    C.apply_overrides(config, {"train.stepz": 3})
  with pytest.raises(C.ConfigError, match=r"^config\.train\.steps\.x: unknown key \(known: "
                                          r"none: it is not a section\)$"):
    C.apply_overrides(config, {"train.steps.x": 3})


def test_presets_and_build():
  base = {"train": {"steps": 100, "log_every": 50}, "first": {"a": [1]}}
  base["second"] = base["first"]  # one section written twice must not become one object
  presets = {"smoke": C.dotted("train", steps=2, log_every=1), "default": {}}
  assert C.dotted(("a", "b"), x=1) == {"a.x": 1, "b.x": 1}
  smoke, default = C.build(base, presets, "smoke"), C.build(base, presets, None)
  assert isinstance(smoke, ml_collections.ConfigDict)
  assert (smoke.train.steps, smoke.train.log_every, default.train.steps) == (2, 1, 100)
  default.first.a.append(2)
  assert base["first"]["a"] == [1] and default.second.a == [1]
  with pytest.raises(C.ConfigError, match=r"^config preset 'huge' is unknown: use one of "
                                          r"smoke, default$"):
    C.build(base, presets, "huge")


@pytest.mark.parametrize("spec, steps", [
    ("configs/toy_gmm.py:smoke", 200), ("configs/toy_gmm.py", 3000), ("toy_gmm", 3000),
    ("toy_gmm:smoke", 200), ("toy_gmm:", 3000), ("toy_gmm:default", 3000),
    (os.path.join(REPO, "configs", "toy_gmm.py:smoke"), 200)])
def test_load_config_specs(spec, steps, tmp_path, monkeypatch):
  assert C.load_config(spec).train.steps == steps
  monkeypatch.chdir(tmp_path)  # a relative path is also found from the checkout
  assert C.load_config(spec).train.steps == steps


def test_load_config_errors_are_one_line(tmp_path):
  broken = tmp_path / "broken.py"
  broken.write_text("def get_config(arg=None):\n  raise ValueError('first\\nwhy it failed')\n")
  (tmp_path / "empty.py").write_text("X = 1\n")
  for spec, message in [
      ("configs/nope.py", "no such config file 'configs/nope.py'"),
      ("nope:smoke", "no such config file 'configs/nope.py'"),
      ("toy_gmm:huge", "toy_gmm:huge: config preset 'huge' is unknown: use one of smoke, "
                       "default"),
      (f"{broken}:smoke", f"{broken}:smoke: ValueError: why it failed"),
      (str(tmp_path / "empty.py"), "AttributeError: module '_paramgen_config_empty' has no "
                                   "attribute 'get_config'")]:
    with pytest.raises(C.ConfigError) as error:
      C.load_config(spec)
    assert message in str(error.value) and "\n" not in str(error.value), spec


def test_config_files_build_on_configs_that_build_on_none():
  """No chains: a config reads its own file and the configs it names, which import none."""
  import ast
  folder = os.path.join(REPO, "configs")
  imports = {}
  for name in os.listdir(folder):
    if name.endswith(".py"):
      tree = ast.parse(open(os.path.join(folder, name)).read())
      imports[name[:-3]] = {alias.name for node in ast.walk(tree)
                            if isinstance(node, ast.ImportFrom)
                            and node.module in ("configs", "paramgen_jax.configs")
                            for alias in node.names}

  def depth(name):
    return 1 + max((depth(other) for other in imports[name]), default=0)
  assert imports["rpg_cnn"] == {"rpg_convnext"}  # the parse sees the imports
  assert max(depth(name) for name in imports) <= 2, imports


def test_lora_zoo_keeps_the_vit_model_and_the_binary_split():
  for arg, zoo_arg in (("smoke", "smoke"), (None, None), ("zeroshot_smoke", "smoke")):
    lora = load_config("zoo_digits_lora", arg)
    assert lora.model.to_dict() == load_config("zoo_digits_vit", zoo_arg).model.to_dict()
    binary = load_config("zoo_digits_binary").tasks
    assert (lora.tasks.kind, lora.tasks.num_unseen, lora.tasks.split_seed) == (
        binary.kind, binary.num_unseen, binary.split_seed)


# A few values per preset that the READMEs and docstrings quote: a preset table that stops
# applying (a key order, a preset built on the wrong base) changes one of them.
@pytest.mark.parametrize("name, arg, values", [
    ("rpg_convnext", None, {"train.steps": 1000, "train.lr": 3e-3, "generator.backbone":
                            "mamba2", "diffusion.prediction": "x0", "tokens.size": 256}),
    ("rpg_convnext", "paper", {"train.steps": 80_000, "train.lr": 3e-5, "tokens.size": 8192,
                               "generator.backbone_options.d_state": 128,
                               "train.compute_dtype": "bfloat16"}),
    ("rpg_convnext", "smoke", {"train.steps": 20, "generator.backbone_options.head_dim": 8,
                               "model.options.widths": (8, 16)}),
    ("rpg_convnext", "no_relation", {"generator.backbone": "gated_mlp",
                                     "generator.backbone_options.mlp_ratio": 2}),
    ("rpg_vit_tiny", None, {"train.steps": 2500, "generator.backbone": "mamba2",
                            "model.name": "vit_tiny", "collect.epochs": 100}),
    ("rpg_vit_tiny", "paper", {"generator.backbone": "mamba",
                               "generator.backbone_options.d_state": 128}),
    ("rpg_vit_tiny", "mamba1", {"generator.backbone": "mamba", "train.steps": 2500}),
    ("rpg_mlp", "smoke", {"model.options.hidden": (16,), "train.steps": 20}),
    ("rpg_unseen_binary", "paper", {"train.steps": 120_000, "train.lr": 1e-5,
                                    "train.batch_size": 16, "generator.d_model": 1024,
                                    "tokens.normalization": "layer"}),
    ("rpg_unseen_binary", None, {"tokens.normalization": "coordinate",
                                 "tasks.split": "random", "collect.shared_init": True}),
    ("rpg_unseen_binary", "far", {"tasks.split": "far_codes", "tasks.far_radius": 2,
                                  "tasks.num_unseen": 12, "collect.shared_init": False,
                                  "tokens.normalization": "coordinate", "train.steps": 2000}),
    ("rpg_unseen_binary", "far_smoke", {"tasks.split": "far_codes", "tasks.limit": 8,
                                        "train.steps": 20}),
    ("mapping_unseen_binary", "far_smoke", {"tasks.split": "far_codes", "tasks.limit": 8,
                                            "train.steps": 40, "generator.residual": "ridge"}),
    ("d2nwg_held_out", None, {"tasks.held_out_classes": (9,), "tasks.num_unseen": 52,
                              "train.steps": 2000, "support.shots": 5}),
    ("d2nwg_held_out", "smoke", {"tasks.split": "held_out_classes", "tasks.limit": 8,
                                 "train.steps": 10}),
    ("pdiff_digits", None, {"generator.condition": "none", "generate.num_models": 50,
                            "collect.checkpoints": 200}),
    ("pdiff_digits", "paper", {"autoencoder_train.steps": 30_000, "sample.sampler": "ddpm"}),
    ("cond_pdiff_lora", "zeroshot", {"tasks.limit": 64, "generator.condition": "text"}),
    ("loragen_lora", "paper", {"train.final_lr_ratio": 1.0, "vae_train.final_lr_ratio": 1.0,
                               "train.lr": 8e-5, "tasks.pick": "random"}),
    ("loragen_lora", "smoke", {"tasks.limit": 8, "vae_train.steps": 10,
                               "eval.noise_per_sigma": 1}),
    ("d2nwg_digits", "smoke", {"train.ema_decay": 0.0, "features.epochs": 3,
                               "predictor_train.steps": 10}),
    ("mapping_unseen_binary", "block_RC", {"generator.blocked": ("R", "C")}),
    ("zoo_digits_lora", "zeroshot_smoke", {"tasks.limit": 8, "collect.checkpoints": 2,
                                           "model.options.dim": 16}),
])
def test_presets_keep_their_recipes(name, arg, values):
  config = load_config(name, arg)
  for dotted, value in values.items():
    node = config
    for part in dotted.split("."):
      node = node[part]
    assert node == value, (name, arg, dotted)
  if name == "d2nwg_digits":
    assert "features" not in load_config(name, "mixed")
