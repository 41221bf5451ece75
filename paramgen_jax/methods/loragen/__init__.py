"""LoRAGen: a LoRA VAE (one latent per location, module-aware MoE decoder, direction and
spectral losses on ΔW) and a text-conditioned latent diffusion transformer, through the
methods' protocol (`paramgen_jax.protocol`): `small_config`, `train`, `generate`, `save`,
`load`; conditions are (N, D) float vectors, one per model.

In memory in core.py; locations in locations.py, the VAE and its losses in model.py, the
pipeline's stages in stages.py.
"""

from paramgen_jax.methods.loragen.core import (Generator, generate, load, save, small_config,
                                               train)
