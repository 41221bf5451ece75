"""The one protocol every generation method speaks, and the typed inputs it shares.

Every method package (`paramgen_jax.methods.<name>`) exports

    small_config() -> ConfigDict
        a recipe that trains on a 2-core CPU in about a minute on a small model;
    train(zoo, config, *, conditions=None, workdir=None) -> Generator
        zoo: a stacked pytree (leaves (N, ...)) of N models of one architecture, or a
        container below where the method needs more; conditions: per-model condition arrays
        (leading axis N) or None for an unconditional generator; workdir: checkpoint, resume
        and log there (default: in memory, nothing written);
    generate(generator, key, conditions, num_models) -> stacked models (leaves (num_models, ...))
        models, never internal vectors; conditions: one condition per generated model
        (leading axis num_models, the shapes `train` got) or None; deterministic methods
        take the key and ignore it. `jax.jit(generate, static_argnames="num_models")`
        works on the generator as it is;
    save(generator, path) / load(path) -> Generator
        a self-describing directory (`paramgen_jax.artifact`): `load` needs no zoo, no
        config file and no workdir. The pipeline's train stage writes exactly this
        artifact to <workdir>/generator.

A Generator is a pytree (`flax.struct.dataclass`): its trained arrays are leaves, its config
(a FrozenConfigDict) and parameter codec are static fields, so it passes through `jit`,
`vmap` and `device_put` unchanged. `memory.generate_within_budget(method.generate, ...)`
makes any number of models within a memory budget, by XLA's plan.

Condition shapes, per method:

  rpg       (N, C) float condition vectors (task codes, text embeddings), or None
  pdiff     (N, C) float vectors, or None; checkpoints with equal conditions form one task
            (its normalization statistics); an unseen condition borrows the statistics of
            the seen task nearest by cosine, or gets them regressed on it
            (`generator.unseen_stats`)
  loragen   (N, D) float condition vectors (text embeddings)
  mapping   (N, F) float condition vectors
  d2nwg     `SupportSets` (below): per model, support sets of its task (or their
            embedding at generation); a zoo of several architectures is a `MixedZoo`

"""

from __future__ import annotations

from typing import Any, NamedTuple, TypedDict

PyTree = Any


class SupportSets(TypedDict, total=False):
  """D2NWG's conditions: per model, the support sets of its task; every leaf has the
  leading axis N (the models trained on, or num_models generated).

    task       (N,) int: the model's task. `train` needs it (models of one task share
               their support sets, and the dataset encoder's CLIP alignment groups them);
               `generate` does not read it.
    support    (N, R, C, K, F) float: R support sets (draws) of the task, each K examples
               of each of its C classes as F features, classes in the task's label order.
               `train` samples a draw per step; `generate` reads draw 0.
    mask       (N, R, C, K) bool: True on real examples, False on padding (fewer shots).
    embedding  (N, E) float, generation only: draw 0 already through the generator's
               frozen dataset encoder (`d2nwg.embed`), read instead of support and mask.

  A plain dict with these keys is one (what `np.load` of a saved one gives back).
  `d2nwg.support_conditions(task, support (T, R, C, K, F), mask (T, R, C, K))` builds one
  from each model's task and the tasks' support sets.
  """
  task: Any
  support: Any
  mask: Any
  embedding: Any


class MixedZoo(NamedTuple):
  """D2NWG's zoo of several architectures for one generator: zoos[a] is a stacked pytree
  (leaves (N_a, ...)) of architecture a. The models count architecture by architecture
  (all of zoos[0] first), which is the order of the conditions' rows."""
  zoos: tuple
