"""RPG: recurrent diffusion for large-scale parameter generation.

The protocol (`paramgen_jax.protocol`) in core.py: `small_config()`, `train(zoo, config, *,
conditions=None, workdir=None) -> Generator`, `generate(generator, key, conditions,
num_models)`, `save(generator, path)`, `load(path)`. The network is in model.py, token-parallel
sampling in token_parallel.py, the pipeline's stages in stages.py.
"""

from paramgen_jax.methods.rpg.core import Generator, generate, load, save, small_config, train
