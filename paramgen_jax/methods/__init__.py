"""One folder per generation method: `methods/<name>/` with its pure model code and its
pipeline stages in `stages.py` (found by `paramgen_jax.pipeline` from `config.method`).

Methods never import each other (tests/test_imports.py checks it); what two of them need
lives below them: `paramgen_jax.stage_helpers`, `zoo`, `eval`, `train`, `params`, `nn`,
`diffusion`.
"""
