"""LoRAGen: text-to-LoRA generation for the digits ViT-tiny, zero-shot on unseen tasks.

COMMAND (collect the zero-shot LoRA zoo if missing, train both stages, generate, report):
  python launch/main.py --config=configs/loragen_lora.py --workdir=runs/loragen_lora
Smoke size (tests):
  python launch/main.py --config=configs/loragen_lora.py:smoke --workdir=runs/loragen_smoke
Paper recipe (official lengths: stage 2 at lr 8e-5 for 10k steps, latents scaled by their max
|z| instead of standardized per coordinate, DDPM sampling):
  python launch/main.py --config=configs/loragen_lora.py:paper --workdir=runs/loragen_paper
Ablations (the default with one change; README lists the results):
  :no_direction :no_spectral :rec_only :no_moe       Table 4 (rec_only: elementwise MSE on A, B
                                                      instead of both adapter-level losses)
  :no_structural                                      Fig. 3c (route on z alone)
  :rho80 :rho100 :top2 :e8 :shared_pool               Fig. 3a-b
  e.g. python launch/main.py --config=configs/loragen_lora.py:no_moe --workdir=runs/lg_no_moe

Zoo: configs/zoo_digits_lora.py:zeroshot (64 seen binary tasks drawn so every digit is
positive in some and negative in others, 16 unseen tasks of the binary zoo's unseen split,
rank-2 LoRA on query/value of the frozen ViT-tiny's 4 layers plus a 2-way head, 5 adapters per
task). Locations: 8 LoRA (query/value × 4 layers) + the head. Condition: the mean MiniLM
embedding of the task's five descriptions (no examples). Every task, seen or unseen, gets
`generate.num_models` adapters from its text alone; the report gives their mean (no selection).
"""

from configs import zoo_digits_lora
from paramgen_jax.configlib import preset

ABLATIONS = {
    "no_direction": dict(direction=0.0), "no_spectral": dict(spectral=0.0),
    "rec_only": dict(direction=0.0, spectral=0.0, rec=1.0), "no_moe": dict(moe=False),
    "no_structural": dict(structural=False), "rho80": dict(rho=0.80), "rho100": dict(rho=1.0),
    "top2": dict(top_k=2), "e8": dict(num_experts=8), "shared_pool": dict(shared_pool=True),
}


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper") + tuple(ABLATIONS))
  smoke, paper = name == "smoke", name == "paper"
  c = zoo_digits_lora.get_config("zeroshot_smoke" if smoke else "zeroshot")
  c.method = "loragen"
  c.eval.noise_per_sigma = 1
  c.vae = dict(latent_dim=8 if smoke else 64, encoder_hidden=16 if smoke else 128,
               num_experts=4, top_k=1, expert_hidden=16 if smoke else 256,
               expert_features=16 if smoke else 128, shared_pool=False, structural=True,
               moe=True, direction=1.0, spectral=2.0, rec=0.0, dense=1.0, kl=1e-6,
               balance=1e-5, balance_warmup=5 if smoke else 1000, rho=0.85, p=1,
               tau_start=1.5, tau_end=1.2, tau_steps=10 if smoke else 2000)
  c.vae.update(ABLATIONS.get(name, {}))
  train = lambda steps, lr, batch, b1, b2, ema: dict(
      steps=steps, batch_size=batch, lr=lr, warmup_steps=5 if smoke else 100,
      final_lr_ratio=0.0 if not paper else 1.0, weight_decay=0.0, b1=b1, b2=b2,
      clip_norm=1.0, ema_decay=ema, compute_dtype="float32", log_every=10 if smoke else 100,
      checkpoint_every=10 if smoke else 1000, keep_checkpoints=2, seed=0, fsdp_min_size=2**20)
  # Stage 1: Adam (0.5, 0.9) at 1.115e-3 as the official configs.
  c.vae_train = train(10 if smoke else (100_000 if paper else 6000), 1.115e-3,
                      8 if smoke else 32, 0.5, 0.9, 0.0)
  c.dit = dict(dim=16 if smoke else 128, depth=1 if smoke else 4, heads=2 if smoke else 8,
               mlp_ratio=4, latent_norm="maxabs" if paper else "standard")
  c.diffusion = dict(schedule="linear", timesteps=500, beta_start=1e-4, beta_end=0.02,
                     prediction="v")
  # Stage 2: EMA 0.995, batch 64 (official lr 8e-5 over ~10k steps; default: fewer, faster).
  c.train = train(10 if smoke else (10_000 if paper else 4000), 8e-5 if paper else 1e-3,
                  8 if smoke else 64, 0.9, 0.999, 0.995)
  c.sample = dict(sampler="ddpm" if paper else "ddim", steps=5 if smoke else 50, eta=0.0,
                  num_samples=1, seed=1, clip_x0=None)
  c.generate = dict(num_models=2 if smoke else 5)
  c.mesh = dict(data=-1)
  return c
