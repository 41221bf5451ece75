"""COND P-DIFF: text-conditioned generation of LoRA adapters for the digits ViT-tiny.

COMMAND (collect the LoRA zoo if missing, train, generate 20 adapters per task, report):
  python launch/main.py --config=configs/cond_pdiff_lora.py --workdir=runs/cond_pdiff_lora
Smoke size (tests):
  python launch/main.py --config=configs/cond_pdiff_lora.py:smoke --workdir=runs/cond_pdiff_smoke
Paper recipe (p-diff's autoencoder widths and latent 128, longer training, ε-prediction, DDPM):
  python launch/main.py --config=configs/cond_pdiff_lora.py:paper --workdir=runs/cond_pdiff_paper
Ablations (the paper's Table 4, each the default with one change; results in
docs/methods/pdiff.md):
  :batch_norm :no_norm        normalization over the whole zoo / none (default: per task)
  :onehot :learned :description :data   condition (default: description + two examples)
  :n1 :n3                     zoo size: the last 1 or 3 checkpoints of every task (default 10)
  :shared                     one time MLP for all denoiser layers (p-diff's; default: per layer)
  :nearest_stats              an unseen task takes the statistics of the seen task nearest to
                              its text (the paper's arrangement; default: regressed on the text)
  :zeroshot                   LoRAGen's zero-shot zoo (configs/zoo_digits_lora.py:zeroshot: 64
                              seen + 16 unseen tasks, 5 adapters each), to compare with LoRAGen
  e.g. python launch/main.py --config=configs/cond_pdiff_lora.py:onehot --workdir=runs/cpd_onehot

The zoo sections are configs/zoo_digits_lora.py's (16 seen + 4 unseen binary tasks of the
binary zoo's split, rank-2 LoRA on query/value plus a 2-way head, the last 10 steps of each
task). Every task is generated 20 times; the adapter that is best on the training split is
reported on the test split, against the best original and the model soup. Unseen tasks are
generated from their text and denormalized with per-coordinate statistics regressed on the
text (the mean's λ the one the ridge baseline picks on the seen tasks); `nearest_stats` and the
`paper` preset take the nearest seen task's instead (docs/methods/pdiff.md).

The autoencoder, diffusion, training and sampling sections are p-diff's recipe, which
configs/pdiff_digits.py runs unconditionally (its `METHOD`, `SMOKE`, `PAPER`).
"""

from paramgen_jax.configs import pdiff_digits, zoo_digits_lora
from paramgen_jax import configlib

# p-diff's recipe (configs/pdiff_digits.py) conditioned on the task's text, 20 adapters a task.
METHOD = dict(pdiff_digits.METHOD,
              generator=dict(pdiff_digits.METHOD["generator"], condition="text",
                             unseen_stats="ridge"),
              generate=dict(num_models=20, select_split="train"))

ABLATIONS = {
    "batch_norm": {"generator.normalization": "batch"},
    "no_norm": {"generator.normalization": "none"},
    # Conditions that cannot describe a new task have no regressed statistics.
    "onehot": {"generator.condition": "onehot", "generator.unseen_stats": "nearest"},
    "learned": {"generator.condition": "learned", "generator.unseen_stats": "nearest"},
    "description": {"generator.condition": "text_description"},
    "data": {"generator.condition": "data"},
    "n1": {"generator.zoo_size": 1}, "n3": {"generator.zoo_size": 3},
    "shared": {"generator.denoiser_conditioning": "shared"},
    "nearest_stats": {"generator.unseen_stats": "nearest"},
}

# zeroshot: this recipe on the zoo's zeroshot preset (LoRAGen's zoo).
PRESETS = {"smoke": pdiff_digits.SMOKE, "default": {},
           "paper": {**pdiff_digits.PAPER, "generator.unseen_stats": "nearest"}, "zeroshot": {},
           **ABLATIONS}


def get_config(arg=None):
  zoo = zoo_digits_lora.get_config(arg if arg in ("smoke", "zeroshot") else None)
  return configlib.build({**zoo.to_dict(), **METHOD}, PRESETS, arg)
