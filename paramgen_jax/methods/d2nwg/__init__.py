"""D2NWG: a weight VAE, a Set-Transformer dataset encoder aligned to its latents, and
dataset-conditioned latent diffusion; weights generated from a task's support set.

In memory (core.py): `train(TrainData, config) -> Generator`, `sample_latents`, `decode`.
Support sets in support.py, stages in stages.py, baselines in baselines.py, the accuracy
predictor in predictor.py, the LLM path (Marchenko-Pastur selection, chunk diffusion,
sequential improvement) in llm.py.
"""

from paramgen_jax.methods.d2nwg.core import Generator, TrainData, train
