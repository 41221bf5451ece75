"""One folder per generation method: `methods/<name>/` with its in-memory code speaking the
protocol of `paramgen_jax.protocol` (`train`, `generate`, `save`, `load`, `small_config`,
exported by the package) and its pipeline stages in `stages.py` (found by
`paramgen_jax.pipeline` from `config.method`), which drive collect -> train -> sample -> eval
through those four functions.

Methods never import each other (tests/test_imports.py checks it); what two of them need
lives below them: `runfiles`, `artifact`, `eval`, `zoo`, `train`, `params`, `nn`,
`diffusion`. A method's core.py depends on nothing above the training engine.
"""
