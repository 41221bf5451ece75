"""LoRAGen: a LoRA VAE (one latent per location, module-aware MoE decoder, direction and
spectral losses on ΔW) and a text-conditioned latent diffusion transformer.

In memory (core.py): `train(stacked, config, conditions=...) -> Generator`, `generate`.
Locations in locations.py, the VAE and its losses in model.py, the stages in stages.py.
"""

from paramgen_jax.methods.loragen.core import Generator, generate, train
