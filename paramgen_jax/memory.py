"""Memory plans from XLA's own figures: how large a chunk of work fits a byte budget.

XLA plans every buffer of a compiled computation before it runs, and the compiled
executable reports the plan (`memory_analysis()`: temporaries, arguments, outputs).
Planning from it needs no device memory and runs nothing: arguments may be
`jax.ShapeDtypeStruct`s. `plan_chunks` picks, along each chunked axis (e.g. models and
examples), the largest chunk whose planned *temporary* memory is within the budget:

    sig = signature((stacked, x), (0, 1))    # stacked leaves chunk axis 0, x axis 1
    models, examples = plan_chunks(predict, sig, (50, 1295), budget)
    run = compiled(predict, sig, (models, examples))   # the executable the plan measured

The budget bounds temporaries only: arguments and outputs are the caller's own data and
small next to them (50 ConvNeXt-mini: 21 MB of arguments, 27.7 GB of temporaries for all
1295 training images at once). Plans and executables are cached on hashable keys (the
function, the signature of its arguments, the sizes), so repeated calls compile nothing.

Configs set the budget in `memory.budget_gb` (GiB, 2**30 bytes); `budget_bytes(config.get("memory"))`.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.errors import MemoryBudgetError

GIB = 2 ** 30
DEFAULT_BUDGET_BYTES = 2 * GIB
BUDGET_KEY = "memory.budget_gb"
# Extrapolate to 90% of the budget: temporaries grow a little faster than linearly (ConvNeXt:
# 407 KB per model-example at 8 x 8, 427 KB at 4 x 1295), and a miss costs a compile.
_MARGIN = 0.9

# (treedef, ((shape without the chunked axis, dtype, weak_type, plan axis or None), ...))
Signature = tuple


def budget_bytes(section: Any) -> int:
  """A `memory` section's `budget_gb` in bytes; 2 GiB for None (a config without one)."""
  return DEFAULT_BUDGET_BYTES if section is None else int(section["budget_gb"] * GIB)


def signature(args: tuple, axes: Any = None) -> Signature:
  """Hashable shapes of `args`, with their chunked axes marked.

  Args:
    args: a tuple of pytrees of arrays or `jax.ShapeDtypeStruct`s (the call's arguments).
    axes: a prefix of `args`, like `vmap`'s `in_axes`: an int k says that the leading
      dimension of the leaves below is chunked along plan axis k (sizes[k]); None: not
      chunked. The default None chunks nothing.
  """
  shapes = jax.eval_shape(lambda a: a, args)  # canonical dtypes, nothing transferred
  leaves, treedef = jax.tree_util.tree_flatten(shapes)
  prefix, prefix_def = jax.tree_util.tree_flatten(axes, is_leaf=lambda v: v is None)
  marks = [ax for ax, sub in zip(prefix, prefix_def.flatten_up_to(shapes))
           for _ in jax.tree_util.tree_leaves(sub)]
  return treedef, tuple((tuple(s.shape[0 if k is None else 1:]), s.dtype, bool(s.weak_type), k)
                        for s, k in zip(leaves, marks))


def abstract(sig: Signature, sizes: Sequence[int] = ()) -> tuple:
  """The `jax.ShapeDtypeStruct` arguments of `sig` with chunk sizes `sizes` (per plan axis)."""
  treedef, leaves = sig
  return jax.tree_util.tree_unflatten(treedef, [
      jax.ShapeDtypeStruct(shape if k is None else (int(sizes[k]),) + shape, dtype,
                           weak_type=weak) for shape, dtype, weak, k in leaves])


@functools.lru_cache(maxsize=64)
def compiled(fn: Callable, sig: Signature, sizes: tuple[int, ...] = ()) -> Any:
  """The executable of `fn` (jitted or not) for `abstract(sig, sizes)`; cached.

  Calling it runs exactly the plan that was measured (a `jax.jit` call would compile again).
  """
  lower = fn.lower if hasattr(fn, "lower") else jax.jit(fn).lower
  return lower(*abstract(sig, sizes)).compile()


def memory_of(executable: Any) -> dict[str, int]:
  """{'temp', 'argument', 'output', 'alias', 'code'} bytes of a compiled executable.

  Zeros where the backend reports no plan (then every chunk "fits").
  """
  stats = executable.memory_analysis()
  get = lambda name: int(getattr(stats, name, 0) or 0) if stats is not None else 0
  return {"temp": get("temp_size_in_bytes"), "argument": get("argument_size_in_bytes"),
          "output": get("output_size_in_bytes"), "alias": get("alias_size_in_bytes"),
          "code": get("generated_code_size_in_bytes")}


def planned_bytes(fn: Callable, *args: Any) -> dict[str, int]:
  """XLA's planned memory of `fn(*args)` (`memory_of`); args may be ShapeDtypeStructs."""
  return memory_of(compiled(fn, signature(args)))


def balanced(total: int, size: int) -> int:
  """The chunk size that cuts `total` into as many chunks as `size` does, evenly."""
  size = max(1, min(size, total))
  return -(-total // -(-total // size))


def _extrapolate(totals: tuple[int, ...], rate: float, budget: float) -> list[int]:
  """Sizes from linear extrapolation (bytes ≈ rate · product of sizes): the first axis is
  cut down (to 1 if need be) before the second is touched."""
  sizes = list(totals)
  for axis in range(len(sizes)):
    if rate * math.prod(sizes) <= budget:
      break
    others = math.prod(sizes) // sizes[axis]
    sizes[axis] = max(1, min(totals[axis], int(budget // (rate * others))))
  return [balanced(t, s) for t, s in zip(totals, sizes)]


def plan_sizes(measure: Callable[[tuple[int, ...]], int], totals: Sequence[int], budget: int,
               *, what: str, key: str = BUDGET_KEY) -> tuple[int, ...]:
  """The largest (balanced) chunk sizes whose measured bytes are within `budget`.

  Measures the whole, extrapolates linearly to the sizes to use when it does not fit,
  measures those, and shrinks them (first axis first) while they are over: by the measured
  excess, and at least by one.

  Args:
    measure: chunk sizes (one per axis) -> planned temporary bytes (it compiles).
    totals: the full size of every axis (>= 1).
    budget: bytes.
    what: what is planned, for the error message (e.g. 'prediction (models x examples)').
    key: the config key that raises the budget, for the error message.

  Raises:
    MemoryBudgetError: even chunks of size 1 on every axis are over the budget.
  """
  totals = tuple(max(1, int(t)) for t in totals)
  # The whole is the probe: when it fits (most calls) one compile is all the plan costs, and
  # compiling a program too large to run allocates nothing.
  measured = {totals: measure(totals)}
  sizes = _extrapolate(totals, max(measured[totals], 1) / math.prod(totals), _MARGIN * budget)
  while True:
    sizes_t = tuple(sizes)
    if sizes_t not in measured:
      measured[sizes_t] = measure(sizes_t)
    used = measured[sizes_t]
    if used <= budget:
      return sizes_t
    shrinkable = [axis for axis, s in enumerate(sizes) if s > 1]
    if not shrinkable:
      raise MemoryBudgetError(
          f"{what} needs {used / GIB:.3g} GiB of temporary memory (XLA's plan) for chunks of "
          f"size {'x'.join(map(str, sizes_t))}, over the memory budget of {budget / GIB:.3g} "
          f"GiB: raise config.{key}")
    axis = shrinkable[0]
    # 5% below the measured rate: a chunk that just missed should not miss again.
    scaled = int(sizes[axis] * 0.95 * budget / used)
    sizes[axis] = balanced(totals[axis], min(sizes[axis] - 1, scaled))


@functools.lru_cache(maxsize=256)
def plan_chunks(fn: Callable, sig: Signature, totals: tuple[int, ...], budget: int, *,
                what: str = "this computation", key: str = BUDGET_KEY) -> tuple[int, ...]:
  """`plan_sizes` of `fn` on the arguments of `sig`, chunked along its marked axes; cached.

  Args:
    fn: the function (jit it once and pass the same object, so that the cache hits).
    sig: `signature(args, axes)`; axis k of the plan is the one `axes` marks with k.
    totals: the full size of every plan axis.
    budget: bytes of temporary memory.
  Returns:
    Chunk sizes, one per axis; `compiled(fn, sig, sizes)` is the executable measured.
  """
  measure = lambda sizes: memory_of(compiled(fn, sig, sizes))["temp"]
  return plan_sizes(measure, totals, budget, what=what, key=key)


def plan_count(make_fn: Callable[[int], Callable], args: tuple, total: int, budget: int, *,
               what: str) -> tuple[int, Any]:
  """(count per call, compiled `make_fn(count)(*args)`): the most items (e.g. generated
  models) one call may make within `budget`, all `total` when they fit.

  `make_fn(count)` returns a function of `args` that makes `count` items; one is jitted per
  count, so planning and calling share its compile. `args` may be ShapeDtypeStructs.
  """
  jitted: dict[int, Callable] = {}

  def fn(count: int) -> Callable:
    if count not in jitted:
      jitted[count] = jax.jit(make_fn(count))
    return jitted[count]

  (count,) = plan_sizes(lambda sizes: planned_bytes(fn(sizes[0]), *args)["temp"], (total,),
                        budget, what=what)
  return count, compiled(fn(count), signature(args))


def host(a: Any) -> np.ndarray:
  """A NumPy copy of an array in JAX's canonical dtype (what `signature` records)."""
  a = np.asarray(a)
  return a.astype(jax.dtypes.canonicalize_dtype(a.dtype), copy=False)


def conditions_rows(conditions: Any, first: Any, count: int) -> Any:
  """Rows first .. first + count - 1 of per-model conditions (leading axis; the last row
  repeats past the end), or None for None."""
  if conditions is None:
    return None
  rows = first + jnp.arange(count)
  return jax.tree_util.tree_map(lambda a: jnp.take(jnp.asarray(a), rows, axis=0, mode="clip"),
                                conditions)


@functools.lru_cache(maxsize=None)
def _generation_run(generate: Callable, count: int, mesh: Any = None) -> Callable:
  """jit of `generate` making `count` models: one trace per function, size and mesh. On a
  mesh the models (and their conditions) are split over every device, the generator and
  the key replicated; XLA partitions the rest."""
  run = lambda g, k, c: generate(g, k, c, count)
  if mesh is None:
    return jax.jit(run)
  from jax.sharding import NamedSharding, PartitionSpec

  split = NamedSharding(mesh, PartitionSpec(mesh.axis_names))
  whole = NamedSharding(mesh, PartitionSpec())
  return jax.jit(run, in_shardings=(whole, whole, split), out_shardings=split)


def device_mesh(devices: Sequence[Any] | None = None) -> Any:
  """A 1-D mesh over `devices` (default: this process's) to generate on, or None for one."""
  devices = list(jax.local_devices() if devices is None else devices)
  if len(devices) < 2:
    return None
  return jax.sharding.Mesh(np.asarray(devices, dtype=object), ("models",))


@functools.lru_cache(maxsize=None)
def _planned_count(generate: Callable, sig: Signature, num_models: int, budget: int,
                   what: str) -> int:
  measure = lambda sizes: planned_bytes(_generation_run(generate, sizes[0]),
                                        *abstract(sig, sizes))["temp"]
  return plan_sizes(measure, (num_models,), budget, what=what)[0]


def plan_generation(generate: Callable, generator: Any, key: Any, conditions: Any,
                    num_models: int, budget: int, *, what: str,
                    mesh: Any = None) -> tuple[int, Callable]:
  """(models per call, jitted `(generator, key, conditions) -> that many models`): as many of
  `num_models` as XLA's plan of `generate(generator, key, conditions, n)` (the methods'
  protocol) fits within `budget` bytes of temporaries per device. Arguments may be
  ShapeDtypeStructs; conditions: per-model (leading axis num_models) or None. On a `mesh`
  each device plans and makes an equal share (the count is a multiple of the mesh's size).
  Plans and traces are cached, so generating task after task plans and compiles once."""
  devices = 1 if mesh is None else mesh.size
  sig = signature((generator, key, conditions), (None, None, 0))
  per_device = _planned_count(generate, sig, -(-num_models // devices), budget, what)
  return per_device * devices, _generation_run(generate, per_device * devices, mesh)


def generate_within_budget(generate: Callable, generator: Any, key: jax.Array, conditions: Any,
                           num_models: int, budget: int, *, what: str, mesh: Any = None) -> Any:
  """All `num_models` models of `generate(generator, key, conditions, n)` (the methods'
  protocol), in calls of as many models as XLA's plan fits within `budget` bytes of
  temporaries (`plan_generation`; all in one call when they fit).

  conditions: per-model conditions (leading axis num_models) or None. One call making every
  model draws with `key`, so it equals `jax.jit(generate)(generator, key, conditions,
  num_models)`;
  otherwise chunk c draws with fold_in(key, c). Every call has the same size (the last one's
  extra models are dropped), so one executable serves them all. On a `mesh` (`device_mesh`)
  each call's models are split over its devices; the methods draw model i's noise from row
  i, so the models are one device's up to float32 rounding.
  """
  count, run = plan_generation(generate, generator, key, conditions, num_models, budget,
                               what=what, mesh=mesh)
  if count == num_models:
    return run(generator, key, conditions)
  if count > num_models:  # a mesh's share rounded up: extra models, dropped
    models = run(generator, key, conditions_rows(conditions, 0, count))
    return jax.tree_util.tree_map(lambda a: a[:num_models], models)
  parts = [run(generator, jax.random.fold_in(key, first // count),
               conditions_rows(conditions, first, count))
           for first in range(0, num_models, count)]
  return jax.tree_util.tree_map(lambda *a: jnp.concatenate(a)[:num_models], *parts)
