"""RPG: recurrent diffusion for large-scale parameter generation.

In memory (core.py): `train(stacked, config) -> Generator`, `generate` / `generate_all`
(stacked parameter pytrees), `small_config()`. The network is in model.py; the pipeline's
stages in stages.py.
"""

from paramgen_jax.methods.rpg.core import (Generator, generate, generate_all, generation_plan,
                                           small_config, train)
