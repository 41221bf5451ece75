"""Model zoos: target models, LoRA adapters, tasks, collection and the on-disk zoo."""

from paramgen_jax.zoo.models import MODELS, Target, make_target, split_variables
from paramgen_jax.zoo.store import load_zoo, read_manifest
