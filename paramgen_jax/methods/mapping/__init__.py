"""Data-conditioned mapping ("Towards personalized parameter generation via data-conditioned
mapping"): a condition mapped to a model's structure-aware arrangement in one forward pass.

In memory (core.py): `train(stacked, conditions, config) -> Generator`, `generate(generator,
conditions)`. The decoder is in model.py (hybrid blocks in `paramgen_jax.nn.hybrid_conv`),
the arrangement in `paramgen_jax.params.arrangement`, the stages in stages.py.
"""

from paramgen_jax.methods.mapping.core import Generator, generate, train
