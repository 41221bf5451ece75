"""Zoo: LoRA adapters on the digits ViT-tiny, one per binary task (COND P-DIFF's zoo).

COMMAND (base model + adapters + report, a few minutes on 2 CPU cores):
  python launch/main.py --config=configs/zoo_digits_lora.py --workdir=runs/zoo_digits_lora
Smoke size (tests):
  python launch/main.py --config=configs/zoo_digits_lora.py:smoke --workdir=runs/zoo_lora_smoke
Zero-shot zoo (LoRAGen's and the zero-shot COND P-DIFF's; 64 seen + 16 unseen tasks):
  python launch/main.py --config=configs/zoo_digits_lora.py:zeroshot --workdir=runs/zoo_lora_zs

1. Base: ViT-tiny (configs/zoo_digits_vit.py's model) trained on the full 10-class task,
   `adapter.base_epochs` epochs at `adapter.base_lr`; stored in <workdir>/base/.
2. Adapters: the base is frozen; LoRA (rank `adapter.rank`, on the query and value
   projections, as LoRA's paper) and a fresh 2-way head are trained per binary task, all tasks
   of a unit at once with vmap, from one shared initialisation. As in COND P-DIFF, the last
   N steps of each task are saved (`collect.checkpoints`): a final pass at `save_lr` cut
   into N batches. Tasks: the first seen and unseen tasks of the binary zoo's split
   (configs/zoo_digits_binary.py, split seed 0), so unseen here is unseen there too.
Task descriptions (five paraphrase templates per task) come with every manifest row.

`zeroshot`: 64 seen tasks drawn (seed 0) from the binary zoo's seen split, so that every
digit is positive in some tasks and negative in others (the first 16 are nearly all about the
digits 0-4), and the first 16 of its 20 unseen tasks; 5 checkpoints per task.
"""

from configs import zoo_digits_binary, zoo_digits_vit
from paramgen_jax.configlib import preset


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "zeroshot", "zeroshot_smoke"))
  smoke = name.endswith("smoke")
  c = zoo_digits_vit.get_config("smoke" if smoke else None)  # data, model, eval, mesh
  c.tasks = zoo_digits_binary.get_config().tasks.to_dict()
  c.tasks.limit = 4 if smoke else 16
  c.adapter = dict(rank=2, alpha=4.0, targets=("query", "value"),
                   base_epochs=2 if smoke else 60, base_lr=1e-3, base_seed=0)
  c.collect.update(dict(tasks_per_unit=20, epochs=1 if smoke else 6, lr=3e-3, save_lr=1e-3,
                        warmup_steps=10, weight_decay=0.0, checkpoints=4 if smoke else 10,
                        shared_init=True))
  if name.startswith("zeroshot"):
    c.tasks.update(dict(limit=8 if smoke else 64, pick="random"))
    c.collect.tasks_per_unit = 8 if smoke else 40
    c.collect.checkpoints = 2 if smoke else 5
  c.eval = dict(noise_sigmas=(0.01, 0.05, 0.1), noise_per_sigma=2, seed=0)
  return c
