"""RPG on the ConvNeXt-mini digits zoo: collect (if missing), train, generate 10 models, report.

COMMAND:
  python launch/main.py --config=configs/rpg_convnext.py --workdir=runs/rpg_convnext
Smoke size (tests):
  python launch/main.py --config=configs/rpg_convnext.py:smoke --workdir=runs/rpg_smoke
Paper recipe (GPU cluster; token 8192, Mamba d_model 8192 / d_state 128, AdamW 3e-5, 80k steps):
  python launch/main.py --config=configs/rpg_convnext.py:paper --workdir=runs/rpg_paper
"No relation" ablation (the default recipe with a gated MLP instead of Mamba: no token mixing):
  python launch/main.py --config=configs/rpg_convnext.py:no_relation --workdir=runs/rpg_no_relation
Other recurrent models at the default widths (:mamba1 the Mamba-1 scan, :lstm, :transformer),
and :shared, the official denoiser's shape (one time MLP and one prototype projection for
all convolutions; docs/methods/rpg.md compares them):
  python launch/main.py --config=configs/rpg_convnext.py:mamba1 --workdir=runs/rpg_mamba1
Quick (the notebook's default: a smaller ConvNeXt zoo, 500 steps; under 3 minutes on a CPU):
  python launch/main.py --config=configs/rpg_convnext.py:quick --workdir=runs/rpg_quick

Default preset: tuned for a 2-core CPU. Token 256, Mamba-2 (chunked SSD, as the official
code) d_model 256 / d_state 8 / head 64, prototype 256, U-Net 1-16-32-64-32-16-1 with its
own time and prototype layers before every convolution (the official shares one of each:
:shared, which at this budget reaches only 88% against 98.7%; docs/methods/rpg.md), 128 tokens per
diffusion batch, 1000 AdamW steps at 3e-3, DDIM 30 steps (60 in the other configs of this
recipe and the paper preset). It predicts x0 rather than the paper's ε: at this
budget ε-prediction samples diverge (docs/methods/rpg.md); the paper preset keeps ε.

The zoo (`ZOO`, `FAMILIES`): each target family on the full 10-class task, 50 checkpoints.
30 epochs of AdamW (lr 2e-3, warm-up 50 steps, cosine down to 1e-5, weight decay 0.05, ±1-pixel
shifts), then one pass at 1e-5 over the training set cut into 50 batches, saving after each;
`FAMILIES` holds what each family changes (the schedules of bench/targets.py).
configs/zoo_digits_{convnext,vit,mlp,cnn,resnet_mini}.py collect these zoos alone.

The other RPG configs run this recipe: configs/rpg_{mlp,cnn,resnet_mini,vit_tiny}.py on the
other full-task zoos (`rpg_on`), configs/rpg_unseen_binary.py with its own generator
(`GENERATOR`, `run_sections`, `SMOKE`, `PAPER`).
"""

from paramgen_jax import configlib

ZOO = dict(
    method="zoo",
    data=dict(name="digits", seed=0, image_size=0),
    model=dict(name="convnext_mini", options=dict()),
    tasks=dict(kind="full", num_unseen=0, split_seed=0, limit=0, pick="first", subset_k=5,
               subset_count=20, split="random", held_out_classes=(), far_radius=1),
    collect=dict(seeds=(0,), tasks_per_unit=1, epochs=30, batch_size=64, lr=2e-3, save_lr=1e-5,
                 warmup_steps=50, weight_decay=0.05, clip_norm=1.0, checkpoints=50,
                 augment_shift=1, label_smoothing=0.0, shared_init=False),
    eval=dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=25, seed=0,
              train_steps=(1, 10, 100), finetune_steps=10),
    # Temporary memory (GiB) one chunk of evaluation, generation or collection may take.
    memory=dict(budget_gb=2.0),
    mesh=dict(data=-1),
)

ZOO_SMOKE = {"collect.epochs": 2, "collect.checkpoints": 5, "eval.noise_per_sigma": 5,
             **configlib.SMOKE_EVAL}

# family (model name) -> (its overrides of ZOO, its model options at smoke size)
FAMILIES = {
    "convnext_mini": ({}, dict(widths=(8, 16), depths=(1, 1))),
    "vit_tiny": ({"collect.epochs": 100, "collect.lr": 1e-3},
                 dict(dim=16, depth=1, heads=2, mlp_dim=32)),
    "mlp": ({"model.options": dict(hidden=(128,)), "collect.epochs": 60,
             "collect.augment_shift": 0}, dict(hidden=(16,))),
    "cnn": ({}, dict(channels=(4, 8))),
    "resnet_mini": ({"collect.epochs": 20}, dict(widths=(4, 8))),
}


def full_task_zoo(family: str, arg: str | None = None):
  """The full-task zoo of a target family (a key of `FAMILIES`) at preset `arg`."""
  overrides, smoke_options = FAMILIES[family]
  default = {"model.name": family, **overrides}
  return configlib.build(ZOO, {"smoke": {**default, **ZOO_SMOKE, "model.options": smoke_options},
                                "default": default}, arg)


# The recurrent models the presets compare, at the default widths.
BACKBONES = {
    "mamba2": dict(num_layers=2, d_state=8, d_conv=4, expand=2, head_dim=64, chunk=64,
                   mode="chunked"),
    "mamba": dict(num_layers=2, d_state=8, d_conv=4, expand=2, mode="scan"),  # Mamba-1
    "lstm": dict(num_layers=2),
    "transformer": dict(num_layers=2, heads=4, mlp_ratio=4),
    "gated_mlp": dict(num_layers=2, mlp_ratio=2),  # no token mixing: "no relation"
}

GENERATOR = dict(d_model=256, prototype_dim=256, prototype_hidden=0, backbone="mamba2",
                 backbone_options=BACKBONES["mamba2"], position="2d", permutation="checkpoint",
                 condition="none", unet_encoder=(16, 32, 64), unet_decoder=(32, 16),
                 denoiser_conditioning="per_layer", diffusion_batch=128, residual="none",
                 ridge_lambda=100.0)

RUN_TRAIN = dict(steps=1000, batch_size=2, lr=3e-3, warmup_steps=50, log_every=50,
                 checkpoint_every=500)


def run_sections(**train):
  """The diffusion, train, sample and generate sections of every RPG config (`train`: the
  keys where a config's train section differs from `RUN_TRAIN`)."""
  return dict(
      diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="x0"),
      train=configlib.train_section(**{**RUN_TRAIN, **train}),
      sample=dict(sampler="ddim", steps=60, eta=0.05, num_samples=1, seed=1, clip_x0=None,
                  compute_dtype="float32"),
      generate=dict(num_models=10, mode="partial", chunk=256),
  )


METHOD = dict(method="rpg", tokens=dict(size=256, granularity="layer", normalization="layer"),
              generator=GENERATOR, **run_sections())

# Every RPG config's smoke and paper overrides (the paper's widths are each config's own).
SMOKE = {
    "tokens.size": 64, "generator.d_model": 16, "generator.prototype_dim": 16,
    **configlib.dotted("generator.backbone_options", num_layers=1, d_state=4),
    "generator.unet_encoder": (8, 16), "generator.unet_decoder": (8,),
    "generator.diffusion_batch": 64,
    **configlib.dotted("train", steps=20, batch_size=2, warmup_steps=5, log_every=10,
                       checkpoint_every=10),
    "sample.steps": 5, "generate.num_models": 2, "generate.chunk": 64,
}
PAPER = {"generator.unet_encoder": (32, 64, 128), "generator.unet_decoder": (64, 32),
         "diffusion.prediction": "eps", "train.compute_dtype": "bfloat16"}

PRESETS = {
    "smoke": {**SMOKE, "generator.backbone_options.head_dim": 8},
    "default": {},
    # token 8192, Mamba d_model 8192 / d_state 128, AdamW 3e-5, 80k steps
    "paper": {**PAPER, "tokens.size": 8192, "generator.d_model": 8192,
              "generator.prototype_dim": 8192, "generator.backbone_options.d_state": 128,
              "generator.diffusion_batch": 1024, "train.steps": 80_000, "train.lr": 3e-5},
}


def _backbone(name):
  return {"generator.backbone": name, "generator.backbone_options": BACKBONES[name]}


ABLATIONS = {
    "no_relation": _backbone("gated_mlp"),
    "mamba1": _backbone("mamba"),
    "lstm": _backbone("lstm"),
    "transformer": _backbone("transformer"),
    # the official denoiser: one time MLP and prototype projection for all convolutions
    "shared": {"generator.denoiser_conditioning": "shared"},
}


def rpg_on(family: str, arg: str | None, presets=PRESETS):
  """This recipe at preset `arg` on the full-task zoo of a target family (a key of
  `FAMILIES`), sharing the collected zoos of configs/zoo_digits_<family>.py."""
  zoo = full_task_zoo(family, "smoke" if arg == "smoke" else None)
  return configlib.build({**zoo.to_dict(), **METHOD}, presets, arg)


# The notebook's default: a smaller ConvNeXt zoo and 500 steps, under 3 minutes on 2 CPU cores.
QUICK = {"model.options": FAMILIES["convnext_mini"][1], "collect.checkpoints": 20,
         "eval.noise_per_sigma": 5, "train.steps": 500, "train.checkpoint_every": 500,
         "sample.steps": 30, "generate.num_models": 5}


# The main command samples with 30 DDIM steps: its generator's models score as with 60 and the
# sample stage takes half as long (docs/methods/rpg.md), which keeps the command within its
# 10 minutes on the slower 2-core host. The other ConvNeXt-recipe configs keep 60.
MAIN_COMMAND = {"sample.steps": 30}


def get_config(arg=None):
  presets = {**PRESETS, **ABLATIONS, "quick": QUICK}
  return rpg_on("convnext_mini", arg, {name: preset if name == "paper" else
                                       {**MAIN_COMMAND, **preset}
                                       for name, preset in presets.items()})
