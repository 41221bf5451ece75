"""p-diff and COND P-DIFF: a parameter autoencoder and (conditional) latent diffusion.

The protocol (`paramgen_jax.protocol`) in core.py: `small_config()`, `train(zoo, config, *,
conditions=None, workdir=None) -> Generator`, `generate(generator, key, conditions,
num_models)`, `save(generator, path)`, `load(path)`. The networks are in model.py and
nn/autoencoder1d.py, the task conditions in conditions.py, the pipeline's stages in
stages.py.
"""

from paramgen_jax.methods.pdiff.core import Generator, generate, load, save, small_config, train
