"""Data-conditioned mapping conditioned on the task's 10-bit code: trained on the seen binary
digit tasks, one model generated for each of the 20 unseen ones (the split of
configs/rpg_unseen_binary.py) and for every seen task.

COMMAND:
  python launch/main.py --config=configs/mapping_unseen_binary.py --workdir=runs/mapping_unseen_binary
Smoke size (tests):
  python launch/main.py --config=configs/mapping_unseen_binary.py:smoke --workdir=runs/mapping_smoke
Ablations (README "Data-conditioned mapping"): presets k1 k3 k7 k9 (kernel size), alpha0
alpha05 alpha075 alpha15 (loss weighting), tasks5 tasks25 tasks100 tasks300 (training tasks),
sequential (arrangement), block_<axes> (blocked mixing directions, e.g. block_L, block_RC),
text (MiniLM description instead of the code), e.g.
  python launch/main.py --config=configs/mapping_unseen_binary.py:k3 --workdir=runs/mapping_k3

Default: the paper's recipe at CPU size — linear code encoder, prototype (8, 16, 16), three
hybrid blocks at (4, 32, 32), kernel 5, α 1, condition noise 1e-3, target noise 2e-4, AdamW
with cosine decay, clipping 1.0. `paper`: larger for a GPU (64×64 maps,
kernel 9, 15k steps); not run.
"""

from configs import zoo_digits_binary
from paramgen_jax.configlib import preset

ABLATIONS = {
    **{f"k{k}": ("generator.kernel", k) for k in (1, 3, 7, 9)},
    "alpha0": ("loss.alpha", 0.0), "alpha05": ("loss.alpha", 0.5),
    "alpha075": ("loss.alpha", 0.75), "alpha15": ("loss.alpha", 1.5),
    **{f"tasks{n}": ("train_tasks", n) for n in (5, 25, 100, 300)},
    "sequential": ("arrangement.kind", "sequential"),
    "text": ("condition.kind", "text"),
    **{f"block_{b}": ("generator.blocked", tuple(b)) for b in ("L", "C", "R", "LC", "LR", "RC")},
}


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper") + tuple(ABLATIONS))
  smoke, paper = name == "smoke", name == "paper"
  c = zoo_digits_binary.get_config("smoke" if smoke else None)
  c.method = "mapping"
  c.arrangement = dict(kind="structure")
  c.condition = dict(kind="bits", noise=1e-3)
  width = 8 if smoke else (64 if paper else 32)
  c.generator = dict(encoder_dim=16 if smoke else 64,
                     prototype=(4, width // 2, width // 2) if smoke else (8, 16, 16),
                     shapes=((4, width, width),) * (1 if smoke else 3),
                     kernel=3 if smoke else (9 if paper else 5), blocked=(),
                     deformation_hidden=0)
  c.loss = dict(alpha=1.0, target_noise=2e-4)
  c.train_tasks = 0
  steps = 40 if smoke else (15_000 if paper else 2000)
  c.train = dict(steps=steps, batch_size=16 if smoke else 32, lr=1e-3,
                 warmup_steps=5 if smoke else 100, final_lr_ratio=0.0, weight_decay=0.01,
                 b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0, compute_dtype="float32",
                 log_every=10 if smoke else 100, checkpoint_every=20 if smoke else 1000,
                 keep_checkpoints=1, seed=0, fsdp_min_size=2**20)
  c.generate = dict(seen_tasks=0, timing_repeats=5 if smoke else 50)
  if name in ABLATIONS:
    field, value = ABLATIONS[name]
    section, _, key = field.rpartition(".")
    (c[section] if section else c)[key] = value
  return c
