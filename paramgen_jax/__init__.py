"""paramgen_jax: generate neural-network weights instead of training them.

Subpackages are imported on use (`from paramgen_jax import params, diffusion`), so that
config files can import `paramgen_jax.configlib` without loading JAX.
"""

__version__ = "0.1.0"
