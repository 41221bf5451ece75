"""D2NWG on digits: 5-way class-subset tasks, weights generated from a 5-shot support set.

COMMAND (collect the zoo if missing, train the VAE, the aligned Set Transformer and the
latent diffusion, generate, report; 8 min 34 s on 2 CPU cores, README "D2NWG"):
  python launch/main.py --config=configs/d2nwg_digits.py --workdir=runs/d2nwg_digits
Smoke size (tests):
  python launch/main.py --config=configs/d2nwg_digits.py:smoke --workdir=runs/d2nwg_smoke
Paper recipe (official lengths and settings: β-schedule 0.0015 -> 0.0155 over 1024 steps,
CLIP τ = 1, lr 1e-4, DDPM sampling, Set Transformer width 128 with 32 inducing points):
  python launch/main.py --config=configs/d2nwg_digits.py:paper --workdir=runs/d2nwg_paper
Experiments (the default with one change; README lists the results):
  :no_vae         diffusion on the weight vectors themselves (Fig. 6b)
  :mlp_encoder    the MLP dataset encoder trained jointly with the diffusion (App. C.5)
  :ranked         20 candidates per task ranked by the accuracy predictor (App. C.7)
  :tasks25 :tasks50 :tasks100   the generator trained on the first 25/50/100 seen tasks
                  (Fig. 6a; the zoo and the unseen tasks are unchanged)
  :mixed          whole networks of two architectures (MLP and CNN on the pixels) in one
                  generator, zero-padded to the larger with an architecture index (App. C.1)
  e.g. python launch/main.py --config=configs/d2nwg_digits.py:no_vae --workdir=runs/d2nwg_no_vae

Zoo: all 252 five-class subsets of the 10 digits, 52 of them (seeded) unseen; per task a
linear head on the 64 features of a frozen MLP backbone (64 -> 128 -> 64 -> 10, trained once
on the 10 digit classes), 30 epochs from one shared initialization, the last 5 steps saved.
Condition: the task's support set only (5 training images per class through the backbone);
unseen tasks are also generated from 1-shot support sets (`support.eval_shots`). Deviations
from the official recipe (kept in `paper`), each measured in README: x0-prediction, CLIP
targets from the latents' similarities, CPU widths, lr 1e-3.
"""

import ml_collections

from paramgen_jax.configlib import preset

EXPERIMENTS = ("no_vae", "mlp_encoder", "ranked", "tasks25", "tasks50", "tasks100", "mixed")


def _train(steps, lr, batch, ema, smoke, seed=0):
  return dict(steps=steps, batch_size=batch, lr=lr, warmup_steps=5 if smoke else 100,
              final_lr_ratio=0.0, weight_decay=0.0, b1=0.9, b2=0.999, clip_norm=1.0,
              ema_decay=ema, compute_dtype="float32", log_every=10 if smoke else 100,
              checkpoint_every=10 if smoke else 1000, keep_checkpoints=2, seed=seed,
              fsdp_min_size=2**20)


def get_config(arg=None):
  name = preset(arg, ("smoke", "default", "paper") + EXPERIMENTS)
  smoke, paper, mixed = name == "smoke", name == "paper", name == "mixed"
  c = ml_collections.ConfigDict()
  c.method = "d2nwg"
  c.data = dict(name="digits", seed=0, image_size=0)
  backbone = dict(hidden=(128, 64), epochs=3 if smoke else 30, lr=3e-3, seed=0)
  c.backbone = backbone
  if mixed:  # whole networks on the pixels: an MLP, and a CNN as the second architecture
    c.model = dict(name="mlp", options=dict(hidden=(32,)))
    c.architectures = [dict(name="cnn", options=dict(channels=(8, 16)))]
  else:
    c.features = dict(backbone)
    c.model = dict(name="mlp", options=dict(hidden=()))
    c.architectures = []
  c.tasks = dict(kind="subset", num_unseen=3 if smoke else 52, split_seed=0, limit=0,
                 pick="first", subset_k=5, subset_count=12 if smoke else 252)
  c.collect = dict(seeds=(0,), tasks_per_unit=252, epochs=2 if smoke else 30, batch_size=64,
                   lr=3e-3, save_lr=1e-4, warmup_steps=10, weight_decay=0.0, clip_norm=1.0,
                   checkpoints=2 if smoke else 5, augment_shift=0, label_smoothing=0.0,
                   shared_init=True)
  c.eval = dict(noise_sigmas=(0.01, 0.05), noise_per_sigma=1, seed=0)
  c.memory = dict(budget_gb=2.0)
  c.train_tasks = {"tasks25": 25, "tasks50": 50, "tasks100": 100}.get(name, 0)
  c.support = dict(shots=5, draws=2 if smoke else 8, seed=0, eval_shots=(1,))
  c.vae = dict(use=name != "no_vae", chunk=64, features=16 if smoke else 64,
               channels=(8,) if smoke else (32, 64), latent_channels=4, kernel=5,
               beta=1e-6, input_noise=1e-3)
  c.vae_train = _train(10 if smoke else 3000, 1e-4 if paper else 1e-3, 8 if smoke else 64,
                       0.0, smoke)
  wide = paper
  c.encoder = dict(kind="mlp" if name == "mlp_encoder" else "set",
                   dim=16 if smoke else (128 if wide else 64), out_dim=16 if smoke else 64,
                   heads=2, num_inducing=4 if smoke else (32 if wide else 16),
                   depth=1 if smoke else 2, mlp_hidden=8)
  # Targets: softmax of the latents' cosine similarities / τ, so tasks with similar weights
  # get similar embeddings ('task': rows of one task only; 'soft': the official targets,
  # built from the embeddings themselves, which can sit at the uniform fixed point). README.
  c.align = dict(proj_dim=16 if smoke else 64, tau=1.0 if paper else 0.1,
                 targets="soft" if paper else "latent")
  c.align_train = _train(10 if smoke else 1500, 1e-4 if paper else 1e-3, 8 if smoke else 64,
                         0.0, smoke)
  c.denoiser = dict(embed_dim=16 if smoke else 64, encoder=(8,) if smoke else (32, 64, 128),
                    decoder=() if smoke else (64, 32))
  c.diffusion = dict(schedule="linear", timesteps=1024 if paper else 1000,
                     beta_start=0.0015 if paper else 1e-4, beta_end=0.0155 if paper else 0.02,
                     prediction="eps" if paper else "x0")
  c.train = _train(10 if smoke else (20_000 if paper else 2000), 1e-4 if paper else 1e-3,
                   8 if smoke else 64,
                   0.999 if not smoke else 0.0, smoke)
  c.sample = dict(sampler="ddpm" if paper else "ddim", steps=5 if smoke else 50, eta=0.0,
                  num_samples=1, seed=1, clip_x0=None)
  c.predictor = dict(use=name == "ranked", hidden=16 if smoke else 128,
                     rows=8 if smoke else 400, noise=(0.0, 0.5, 1.0, 2.0),
                     candidates=20 if name == "ranked" else 5)
  c.predictor_train = _train(10 if smoke else 2000, 1e-3, 8 if smoke else 64, 0.0, smoke)
  c.generate = dict(num_models=2 if smoke else 5)
  c.baselines = dict(finetune_steps=10, finetune_lr=1e-2)
  c.mesh = dict(data=-1)
  return c
