"""COND P-DIFF: text-conditioned generation of LoRA adapters for the digits ViT-tiny.

COMMAND (collect the LoRA zoo if missing, train, generate 20 adapters per task, report):
  python launch/main.py --config=configs/cond_pdiff_lora.py --workdir=runs/cond_pdiff_lora
Smoke size (tests):
  python launch/main.py --config=configs/cond_pdiff_lora.py:smoke --workdir=runs/cond_pdiff_smoke
Paper recipe (p-diff's autoencoder widths and latent 128, longer training, ε-prediction, DDPM):
  python launch/main.py --config=configs/cond_pdiff_lora.py:paper --workdir=runs/cond_pdiff_paper
Ablations (the paper's Table 4, each the default with one change; README lists the results):
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
"""

from configs import zoo_digits_lora
from paramgen_jax.configlib import preset

ABLATIONS = {
    "batch_norm": ("normalization", "batch"), "no_norm": ("normalization", "none"),
    "onehot": ("condition", "onehot"), "learned": ("condition", "learned"),
    "description": ("condition", "text_description"), "data": ("condition", "data"),
    "n1": ("zoo_size", 1), "n3": ("zoo_size", 3),
    "shared": ("denoiser_conditioning", "shared"),
}


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper", "zeroshot") + tuple(ABLATIONS))
  smoke, paper = name == "smoke", name == "paper"
  zoo = "smoke" if smoke else ("zeroshot" if name == "zeroshot" else None)
  c = zoo_digits_lora.get_config(zoo)
  c.method = "pdiff"
  c.generator = dict(normalization="task", condition="text", embed_dim=64, prompt_seed=0,
                     unet_encoder=(8, 16) if smoke else (32, 64, 128),
                     unet_decoder=(8,) if smoke else (64, 32), denoiser_conditioning="per_layer",
                     zoo_size=0)
  if name in ABLATIONS:
    key, value = ABLATIONS[name]
    c.generator[key] = value
  shared_sections(c, name, ae_steps=1500, steps=2000)
  return c


def shared_sections(c, name, *, ae_steps, steps):
  """Autoencoder, diffusion, train, sample, generate and mesh sections of the p-diff configs.

  `ae_steps` and `steps` apply to the default preset; smoke and paper keep their own.
  """
  smoke, paper = name == "smoke", name == "paper"
  c.autoencoder = dict(
      channels=(8, 8) if smoke else ((64, 128, 256, 256, 32) if paper else (16, 32, 32, 32, 16)),
      latent_dim=16 if smoke else (128 if paper else 64), kernel=7,
      input_noise=1e-3, latent_noise=0.1)
  train = lambda steps, lr, batch: dict(
      steps=steps, batch_size=batch, lr=lr, warmup_steps=5 if smoke else 100,
      final_lr_ratio=0.0, weight_decay=2e-6, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0,
      compute_dtype="float32", log_every=10 if smoke else 100,
      checkpoint_every=10 if smoke else 1000, keep_checkpoints=2, seed=0,
      fsdp_min_size=2**20)
  c.autoencoder_train = train(10 if smoke else (30_000 if paper else ae_steps), 1e-3,
                              8 if smoke else 32)
  c.diffusion = dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="eps")
  c.train = train(10 if smoke else (30_000 if paper else steps), 1e-3, 8 if smoke else 64)
  c.sample = dict(sampler="ddpm" if paper else "ddim", steps=5 if smoke else 100, eta=0.0,
                  num_samples=1, seed=1, clip_x0=None)
  c.generate = dict(num_models=4 if smoke else 20, select_split="train")
  c.mesh = dict(data=-1)
