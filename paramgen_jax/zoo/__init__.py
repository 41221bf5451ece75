"""Model zoos: target models, LoRA adapters, tasks, collection and the on-disk zoo.

A config's zoo sections as a library (schema, checks, inputs, loading, collection) are
`spec.py`; the accuracy of many parameter sets at once is `accuracy.py`.
"""

from paramgen_jax.zoo.models import MODELS, Target, make_target, split_variables
from paramgen_jax.zoo.spec import (ZOO_SCHEMA, ZooInputs, build_zoo_inputs,
                                   collect_zoo_from_config, load_checked_zoo, validate_zoo,
                                   zoo_sections)
from paramgen_jax.zoo.store import load_zoo, read_manifest
