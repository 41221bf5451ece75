"""The configs `paramgen run <name>[:preset]` and `python launch/main.py --config=...` take.

One file per recipe; each has `get_config(preset)` and states its command in its docstring.
Installed, they are the package `paramgen_jax.configs` (this folder), so one config imports
another's sections as `from paramgen_jax.configs import zoo_digits_binary`.
"""
