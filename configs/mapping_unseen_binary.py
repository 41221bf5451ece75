"""Data-conditioned mapping conditioned on the task's 10-bit code: trained on the seen binary
digit tasks, one model generated for each of the 20 unseen ones (the split of
configs/rpg_unseen_binary.py) and for every seen task.

COMMAND:
  python launch/main.py --config=configs/mapping_unseen_binary.py --workdir=runs/mapping_unseen_binary
Smoke size (tests):
  python launch/main.py --config=configs/mapping_unseen_binary.py:smoke --workdir=runs/mapping_smoke
Quick (the notebook's default: a zoo of 200 seen tasks, 600 steps; under 3 minutes):
  python launch/main.py --config=configs/mapping_unseen_binary.py:quick --workdir=runs/mapping_quick
Unseen codes 3 bits from every seen code, each task trained from its own initialization (the
`far` zoo of configs/zoo_digits_binary.py: 12 unseen, 477 seen tasks; `far_smoke` for tests):
  python launch/main.py --config=configs/mapping_unseen_binary.py:far --workdir=runs/mapping_far
The paper's decoder at CPU size (what the ablations vary):
  python launch/main.py --config=configs/mapping_unseen_binary.py:hybrid_conv --workdir=runs/mapping_conv
Ablations of the paper's decoder (docs/methods/mapping.md): presets k1 k3 k7 k9 (kernel
size), alpha0 alpha05 alpha075 alpha15 (loss weighting), tasks5 tasks25 tasks100 tasks300
(training tasks), sequential (arrangement), block_<axes> (blocked mixing directions, e.g.
block_L, block_RC), text (MiniLM description instead of the code), e.g.
  python launch/main.py --config=configs/mapping_unseen_binary.py:k3 --workdir=runs/mapping_k3

Default: linear code encoder (64), then the MLP decoder (two GELU layers of 1024)
predicting every weight coordinate standardized over the seen models, added to a ridge
regression from the code (λ 100; the decoder learns what the regression misses); condition
noise 1e-3, target noise 2e-4, AdamW (lr 1e-3, weight decay 1e-4) with cosine decay,
clipping 1.0, 3,000 steps of 64 models. Measured against the paper's decoder and the simple
baselines in docs/methods/mapping.md. `direct`: the MLP decoder without the regression.
`hybrid_conv`: the paper's recipe at CPU size — prototype (8, 16, 16), three hybrid blocks
at (4, 32, 32), kernel 5, α 1, no regression. `paper`: the paper's decoder larger for a GPU
(64×64 maps, kernel 9, 15k steps); not run.
"""

from paramgen_jax.configs import zoo_digits_binary
from paramgen_jax import configlib

METHOD = dict(
    method="mapping",
    arrangement=dict(kind="structure"),
    condition=dict(kind="bits", noise=1e-3),
    generator=dict(decoder="mlp", hidden=(1024, 1024), residual="ridge", ridge_lambda=100.0,
                   encoder_dim=64,
                   prototype=(8, 16, 16), shapes=((4, 32, 32),) * 3, kernel=5, blocked=(),
                   deformation_hidden=0),
    loss=dict(alpha=1.0, target_noise=2e-4),
    train_tasks=0,
    train=configlib.train_section(steps=3000, batch_size=64, lr=1e-3, weight_decay=1e-4,
                                  keep_checkpoints=1),
    generate=dict(seen_tasks=0, timing_repeats=50, compute_dtype="float32"),
)

# The paper's decoder with its CPU-size recipe (2,000 steps of 32 models, weight decay 0.01).
PAPER_DECODER = {"generator.decoder": "hybrid_conv", "generator.residual": "none",
                 **configlib.dotted("train", steps=2000, batch_size=32, weight_decay=0.01)}
ABLATIONS = {name: {**PAPER_DECODER, **overrides} for name, overrides in {
    **{f"k{k}": {"generator.kernel": k} for k in (1, 3, 7, 9)},
    "alpha0": {"loss.alpha": 0.0}, "alpha05": {"loss.alpha": 0.5},
    "alpha075": {"loss.alpha": 0.75}, "alpha15": {"loss.alpha": 1.5},
    **{f"tasks{n}": {"train_tasks": n} for n in (5, 25, 100, 300)},
    "sequential": {"arrangement.kind": "sequential"},
    "text": {"condition.kind": "text"},
    **{f"block_{b}": {"generator.blocked": tuple(b)} for b in ("L", "C", "R", "LC", "LR", "RC")},
}.items()}

SMOKE = {"generator.encoder_dim": 16, "generator.hidden": (32,), "generator.prototype": (4, 4, 4),
         "generator.shapes": ((4, 8, 8),), "generator.kernel": 3,
         **configlib.dotted("train", steps=40, batch_size=16, warmup_steps=5, log_every=10,
                            checkpoint_every=20),
         "generate.timing_repeats": 5}

PRESETS = {
    "smoke": SMOKE,
    "default": {},
    # the notebook's default: 200 seen tasks, 600 steps, under 3 minutes on 2 CPU cores
    "quick": {"tasks.limit": 200, "collect.tasks_per_unit": 220, "train.steps": 600,
              "generate.timing_repeats": 5},
    "hybrid_conv": PAPER_DECODER,
    # the default recipe where the unseen codes are far from the seen and the inits differ:
    # the soup and the regression average networks from different initializations
    "far": zoo_digits_binary.FAR,
    "far_smoke": {**SMOKE, **zoo_digits_binary.FAR},
    # the MLP decoder alone, without the ridge regression it is added to by default
    "direct": {"generator.residual": "none"},
    "paper": {**PAPER_DECODER, "generator.shapes": ((4, 64, 64),) * 3, "generator.kernel": 9,
              "train.steps": 15_000},
    **ABLATIONS,
}


def get_config(arg=None):
  zoo = zoo_digits_binary.get_config("smoke" if arg in ("smoke", "far_smoke") else None)
  return configlib.build({**zoo.to_dict(), **METHOD}, PRESETS, arg)
