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
            the seen task nearest by cosine
  loragen   (N, D) float condition vectors (text embeddings)
  mapping   (N, F) float condition vectors
  d2nwg     `SupportSets` (below): each model's task and the support sets of the tasks

"""

from __future__ import annotations

from typing import Any, NamedTuple

PyTree = Any
