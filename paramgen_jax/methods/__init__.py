"""One module per generation method; each composes params, nn, diffusion and train.

Methods never import each other. The registry of runnable methods is
`paramgen_jax.pipeline.METHODS`.
"""
