"""p-diff and COND P-DIFF: a parameter autoencoder and (conditional) latent diffusion.

In memory (core.py): `train(stacked, config, ...) -> Generator`, `generate` / `generate_all`
(stacked parameter pytrees). The networks are in model.py and nn/autoencoder1d.py, the task
conditions in conditions.py, the pipeline's stages in stages.py.
"""

from paramgen_jax.methods.pdiff.core import Generator, generate, generate_all, train
