"""D2NWG on digits: 5-way class-subset tasks, weights generated from a 5-shot support set.

COMMAND (collect the zoo if missing, train the VAE, the aligned Set Transformer and the
latent diffusion, generate, report; 8 min 34 s on 2 CPU cores, docs/methods/d2nwg.md):
  python launch/main.py --config=configs/d2nwg_digits.py --workdir=runs/d2nwg_digits
Smoke size (tests):
  python launch/main.py --config=configs/d2nwg_digits.py:smoke --workdir=runs/d2nwg_smoke
Paper recipe (official lengths and settings: β-schedule 0.0015 -> 0.0155 over 1024 steps,
CLIP τ = 1, lr 1e-4, DDPM sampling, Set Transformer width 128 with 32 inducing points):
  python launch/main.py --config=configs/d2nwg_digits.py:paper --workdir=runs/d2nwg_paper
Quick (the notebook's default: shorter training, 2 support sets a task; under 3 minutes):
  python launch/main.py --config=configs/d2nwg_digits.py:quick --workdir=runs/d2nwg_quick
Experiments (the default with one change; docs/methods/d2nwg.md lists the results):
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
from the official recipe (kept in `paper`), each measured in docs/methods/d2nwg.md: x0-prediction, CLIP
targets from the latents' similarities, CPU widths, lr 1e-3.
"""

from paramgen_jax import configlib

TRAIN_SECTIONS = ("vae_train", "align_train", "train", "predictor_train")
BACKBONE = dict(hidden=(128, 64), epochs=30, lr=3e-3, seed=0)

BASE = dict(
    method="d2nwg",
    data=dict(name="digits", seed=0, image_size=0),
    backbone=BACKBONE,
    features=BACKBONE,
    model=dict(name="mlp", options=dict(hidden=())),
    architectures=[],
    tasks=dict(kind="subset", num_unseen=52, split_seed=0, limit=0, pick="first", subset_k=5,
               subset_count=252, split="random", held_out_classes=(), far_radius=1),
    collect=dict(seeds=(0,), tasks_per_unit=252, epochs=30, batch_size=64, lr=3e-3,
                 save_lr=1e-4, warmup_steps=10, weight_decay=0.0, clip_norm=1.0, checkpoints=5,
                 augment_shift=0, label_smoothing=0.0, shared_init=True),
    eval=dict(noise_sigmas=(0.01, 0.05), noise_per_sigma=1, seed=0,
              train_steps=(1, 10, 100), finetune_steps=10),
    memory=dict(budget_gb=2.0),
    train_tasks=0,
    support=dict(shots=5, draws=8, seed=0, eval_shots=(1,)),
    vae=dict(use=True, chunk=64, features=64, channels=(32, 64), latent_channels=4, kernel=5,
             beta=1e-6, input_noise=1e-3),
    vae_train=configlib.train_section(steps=3000, batch_size=64, lr=1e-3),
    encoder=dict(kind="set", dim=64, out_dim=64, heads=2, num_inducing=16, depth=2,
                 mlp_hidden=8),
    # Targets: softmax of the latents' cosine similarities / τ, so tasks with similar weights
    # get similar embeddings ('task': rows of one task only; 'soft': the official targets,
    # built from the embeddings themselves, which can sit at the uniform fixed point); docs/methods/d2nwg.md.
    align=dict(proj_dim=64, tau=0.1, targets="latent"),
    align_train=configlib.train_section(steps=1500, batch_size=64, lr=1e-3),
    denoiser=dict(embed_dim=64, encoder=(32, 64, 128), decoder=(64, 32)),
    diffusion=dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                   prediction="x0"),
    train=configlib.train_section(steps=2000, batch_size=64, lr=1e-3, ema_decay=0.999),
    sample=dict(sampler="ddim", steps=50, eta=0.0, num_samples=1, seed=1, clip_x0=None,
                compute_dtype="float32"),
    predictor=dict(use=False, hidden=128, rows=400, noise=(0.0, 0.5, 1.0, 2.0), candidates=5),
    predictor_train=configlib.train_section(steps=2000, batch_size=64, lr=1e-3),
    generate=dict(num_models=5),
    baselines=dict(finetune_steps=10, finetune_lr=1e-2),
    mesh=dict(data=-1),
)

EXPERIMENTS = {
    "no_vae": {"vae.use": False},
    "mlp_encoder": {"encoder.kind": "mlp"},
    "ranked": {"predictor.use": True, "predictor.candidates": 20},
    **{f"tasks{n}": {"train_tasks": n} for n in (25, 50, 100)},
    # whole networks on the pixels: an MLP, and a CNN as the second architecture
    "mixed": {"model.options.hidden": (32,), "features": configlib.DELETE,
              "architectures": [dict(name="cnn", options=dict(channels=(8, 16)))]},
}

PRESETS = {
    "smoke": {
        **configlib.SMOKE_EVAL,
        **configlib.dotted(("backbone", "features"), epochs=3),
        "tasks.num_unseen": 3, "tasks.subset_count": 12,
        "collect.epochs": 2, "collect.checkpoints": 2, "support.draws": 2,
        "vae.features": 16, "vae.channels": (8,),
        "encoder.dim": 16, "encoder.out_dim": 16, "encoder.num_inducing": 4, "encoder.depth": 1,
        "align.proj_dim": 16,
        "denoiser.embed_dim": 16, "denoiser.encoder": (8,), "denoiser.decoder": (),
        **configlib.dotted(TRAIN_SECTIONS, steps=10, batch_size=8, warmup_steps=5,
                           log_every=10, checkpoint_every=10),
        "train.ema_decay": 0.0,
        "sample.steps": 5, "predictor.hidden": 16, "predictor.rows": 8,
        "generate.num_models": 2,
    },
    "default": {},
    # the notebook's default: shorter training, 2 support sets a task, under 3 minutes on
    # 2 CPU cores
    "quick": {"vae_train.steps": 400, "align_train.steps": 450, "train.steps": 1100,
              "support.draws": 2, "support.eval_shots": (), "generate.num_models": 2},
    "paper": {
        **configlib.dotted(("vae_train", "align_train", "train"), lr=1e-4),
        "encoder.dim": 128, "encoder.num_inducing": 32,
        "align.tau": 1.0, "align.targets": "soft",
        "diffusion.timesteps": 1024, "diffusion.beta_start": 0.0015,
        "diffusion.beta_end": 0.0155, "diffusion.prediction": "eps",
        "train.steps": 20_000, "sample.sampler": "ddpm",
    },
    **EXPERIMENTS,
}


def get_config(arg=None):
  return configlib.build(BASE, PRESETS, arg)
