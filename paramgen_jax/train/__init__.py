"""Training engine: state, optimizer, FSDP-style state sharding, jitted step, Orbax
checkpoints, loop."""

from paramgen_jax.train.checkpoint import Checkpointer, abstract_like
from paramgen_jax.train.loop import NonFiniteLossError, fit, restore_latest
from paramgen_jax.train.mesh import (batch_sharding, data_parallel_size, make_mesh,
                                     put_batch, replicated)
from paramgen_jax.train.metrics import MetricsLog, read_metrics
from paramgen_jax.train.optim import learning_rate_schedule, make_optimizer
from paramgen_jax.train.sharding import bytes_per_device, state_shardings
from paramgen_jax.train.state import TrainState
from paramgen_jax.train.step import cast_floating, jit_train_step, make_train_step
