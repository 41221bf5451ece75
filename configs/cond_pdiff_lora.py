"""COND P-DIFF: text-conditioned generation of LoRA adapters for the digits ViT-tiny.

COMMAND (collect the LoRA zoo if missing, train, generate 20 adapters per task, report):
  python launch/main.py --config=configs/cond_pdiff_lora.py --workdir=runs/cond_pdiff_lora
Smoke size (tests):
  python launch/main.py --config=configs/cond_pdiff_lora.py:smoke --workdir=runs/cond_pdiff_smoke
Paper recipe (p-diff's autoencoder widths and latent 128, longer training, ε-prediction, DDPM):
  python launch/main.py --config=configs/cond_pdiff_lora.py:paper --workdir=runs/cond_pdiff_paper
Ablations (the paper's Table 4, each the default with one change; docs/methods/pdiff.md lists the results):
  :batch_norm :no_norm        normalization over the whole zoo / none (default: per task)
  :onehot :learned :description :data   condition (default: description + two examples)
  :n1 :n3                     zoo size: the last 1 or 3 checkpoints of every task (default 10)
  :shared                     one time MLP for all denoiser layers (p-diff's; default: per layer)
  :zeroshot                   LoRAGen's zero-shot zoo (configs/zoo_digits_lora.py:zeroshot: 64
                              seen + 16 unseen tasks, 5 adapters each), to compare with LoRAGen
  e.g. python launch/main.py --config=configs/cond_pdiff_lora.py:onehot --workdir=runs/cpd_onehot

The zoo sections are configs/zoo_digits_lora.py's (16 seen + 4 unseen binary tasks of the
binary zoo's split, rank-2 LoRA on query/value plus a 2-way head, the last 10 steps of each
task). Every task is generated 20 times; the adapter that is best on the training split is
reported on the test split, against the best original and the model soup. Unseen tasks are
generated from their text and normalized with the statistics of the nearest seen task.

configs/pdiff_digits.py runs the same recipe (`METHOD`, `SMOKE`, `PAPER`) unconditionally.
"""

from paramgen_jax.configs import zoo_digits_lora
from paramgen_jax import configlib

METHOD = dict(
    method="pdiff",
    generator=dict(normalization="task", condition="text", embed_dim=64, prompt_seed=0,
                   unet_encoder=(32, 64, 128), unet_decoder=(64, 32),
                   denoiser_conditioning="per_layer", zoo_size=0),
    autoencoder=dict(channels=(16, 32, 32, 32, 16), latent_dim=64, kernel=7, input_noise=1e-3,
                     latent_noise=0.1),
    autoencoder_train=configlib.train_section(steps=1500, batch_size=32, lr=1e-3,
                                              weight_decay=2e-6),
    diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                   prediction="eps"),
    train=configlib.train_section(steps=2000, batch_size=64, lr=1e-3, weight_decay=2e-6),
    sample=dict(sampler="ddim", steps=100, eta=0.0, num_samples=1, seed=1, clip_x0=None),
    generate=dict(num_models=20, select_split="train"),
)

SMOKE = {
    "generator.unet_encoder": (8, 16), "generator.unet_decoder": (8,),
    "autoencoder.channels": (8, 8), "autoencoder.latent_dim": 16,
    **configlib.dotted(("autoencoder_train", "train"), steps=10, batch_size=8, warmup_steps=5,
                       log_every=10, checkpoint_every=10),
    "sample.steps": 5, "generate.num_models": 4,
}
# p-diff's autoencoder widths and latent 128, 30k + 30k steps, DDPM sampling
PAPER = {"autoencoder.channels": (64, 128, 256, 256, 32), "autoencoder.latent_dim": 128,
         "autoencoder_train.steps": 30_000, "train.steps": 30_000, "sample.sampler": "ddpm"}

ABLATIONS = {
    "batch_norm": {"generator.normalization": "batch"},
    "no_norm": {"generator.normalization": "none"},
    "onehot": {"generator.condition": "onehot"},
    "learned": {"generator.condition": "learned"},
    "description": {"generator.condition": "text_description"},
    "data": {"generator.condition": "data"},
    "n1": {"generator.zoo_size": 1}, "n3": {"generator.zoo_size": 3},
    "shared": {"generator.denoiser_conditioning": "shared"},
}

# zeroshot: this recipe on the zoo's zeroshot preset (LoRAGen's zoo).
PRESETS = {"smoke": SMOKE, "default": {}, "paper": PAPER, "zeroshot": {}, **ABLATIONS}


def get_config(arg=None):
  zoo = zoo_digits_lora.get_config(arg if arg in ("smoke", "zeroshot") else None)
  return configlib.build({**zoo.to_dict(), **METHOD}, PRESETS, arg)
