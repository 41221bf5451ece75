"""D2NWG: a weight VAE, a Set-Transformer dataset encoder aligned to its latents, and
dataset-conditioned latent diffusion; weights generated from a task's support set.

The methods' protocol (`paramgen_jax.protocol`), in core.py: `small_config`, `train`,
`generate`, `save`, `load` and `Generator`; conditions are `protocol.SupportSets`, built by
`support_conditions` (or `embed`ded once for many models); `for_architecture` picks the
architecture a generator trained on a `protocol.MixedZoo` makes. Support sets of a zoo's
tasks in support.py, stages in stages.py, baselines in baselines.py, the accuracy predictor
in predictor.py, the LLM path (Marchenko-Pastur selection, chunk diffusion, sequential
improvement) in llm.py.
"""

from paramgen_jax.methods.d2nwg.conditions import support_conditions
from paramgen_jax.methods.d2nwg.core import (Generator, embed, for_architecture, generate, load,
                                             save, small_config, train)
