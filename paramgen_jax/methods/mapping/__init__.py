"""Data-conditioned mapping ("Towards personalized parameter generation via data-conditioned
mapping"): a condition mapped to a model's structure-aware arrangement in one forward pass.

The protocol (`paramgen_jax.protocol`) in core.py: `small_config()`, `train(zoo, config, *,
conditions, workdir=None) -> Generator` (conditions (N, F), required), `generate(generator,
key, conditions, num_models)` (conditions (num_models, F); deterministic, the key is
ignored), `save(generator, path)`, `load(path)`. The decoder is in model.py (hybrid blocks in
`paramgen_jax.nn.hybrid_conv`), the arrangement in `paramgen_jax.params.arrangement`, the
pipeline's stages in stages.py.
"""

from paramgen_jax.methods.mapping.core import Generator, generate, load, save, small_config, train
