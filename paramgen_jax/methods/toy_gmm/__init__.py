"""toy_gmm: diffusion on a 1-D Gaussian mixture (the pipeline's known-answer check).

In memory: `draw_mixture`, `train_denoiser`, `sample_points`, `component_stats` (core.py);
the pipeline's stages are in stages.py.
"""

from paramgen_jax.methods.toy_gmm.core import (component_stats, draw_mixture, init_fn,
                                               make_model, sample_points, train_denoiser)
