"""toy_gmm: diffusion on a 1-D Gaussian mixture (the pipeline's known-answer check), through
the methods' protocol (`paramgen_jax.protocol`): `train`, `generate`, `save`, `load`,
`small_config`; `draw_mixture` and `component_stats` make and score the mixture. The
pipeline's stages are in stages.py.
"""

from paramgen_jax.methods.toy_gmm.core import (Generator, component_stats, draw_mixture,
                                               generate, load, save, small_config, train)
