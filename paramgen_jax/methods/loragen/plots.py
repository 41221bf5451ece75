"""LoRAGen's diagnostics: expert usage per module pool, spectral entropy of ΔW per location.

`write_plots` writes experts.png, spectra.png and their numbers in diagnostics.json:
  {"expert_load": {pool: [fraction of its locations routed to each expert]},
   "spectral_entropy": {"original" | "generated": {location: mean entropy (nats)}}}
computed on the seen tasks' adapters (expert load: their posterior means decoded at the final
temperature) and on all generated adapters.
"""

from __future__ import annotations

import os
from typing import Any

import jax
import numpy as np

from paramgen_jax.integrity import atomic_write_json
from paramgen_jax.methods.loragen import core
from paramgen_jax.methods.loragen.locations import LocationPlan, factors
from paramgen_jax.methods.loragen.model import LoRAVAE
from paramgen_jax.params import lowrank

DIAGNOSTICS = "diagnostics.json"


def expert_load(generator: core.Generator, latents: np.ndarray) -> dict[str, list[float]]:
  """{pool name: (E,) fraction of the pool's locations routed to each expert} for latents
  (S, N, d_z)."""
  g = generator
  _, aux = core.vae_model(g.config, g.plan).apply(g.vae_params, latents, g.config.vae.tau_end,
                                                  method=LoRAVAE.decode)
  load = np.asarray(aux["load"])
  names = (("shared",) if len(load) == 1 else g.plan.names)
  return {name: [float(v) for v in row] for name, row in zip(names, load)}


def spectral_entropies(plan: LocationPlan, stacked: Any) -> dict[str, float]:
  """{'module/layer': mean over models of ΔW's spectral entropy} for the LoRA locations."""
  rows = core.split_stack(plan, stacked)
  out = {}
  for m in plan.modules:
    if m.kind != "lora":
      continue
    a, b = factors(m, rows[m.name])  # (S, L, d_in, r), (S, L, r, d_out)
    ent = np.asarray(jax.vmap(jax.vmap(lowrank.spectral_entropy))(a, b)).mean(0)
    out.update({f"{m.name}/{layer}": float(e) for layer, e in zip(m.layers, ent)})
  return out


def write_plots(workdir: str, generator: core.Generator, seen_stack: Any,
                generated: dict) -> dict:
  """Writes experts.png, spectra.png and diagnostics.json into workdir (seen_stack: the seen
  tasks' adapters, stacked); returns the numbers."""
  latents = np.load(os.path.join(workdir, core.LATENTS))["latents"]
  found = {"expert_load": expert_load(generator, latents),
           "spectral_entropy": {"original": spectral_entropies(generator.plan, seen_stack)}}
  if generated:
    stacked = jax.tree_util.tree_map(lambda *a: np.concatenate(a), *generated.values())
    found["spectral_entropy"]["generated"] = spectral_entropies(generator.plan, stacked)
  atomic_write_json(os.path.join(workdir, DIAGNOSTICS), found)
  _plot_experts(found["expert_load"], os.path.join(workdir, "experts.png"))
  _plot_spectra(found["spectral_entropy"], os.path.join(workdir, "spectra.png"))
  return found


def _plot_experts(load: dict, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(5, 3))
  width = 0.8 / max(len(load), 1)
  for i, (pool, fractions) in enumerate(load.items()):
    ax.bar(np.arange(len(fractions)) + i * width, fractions, width, label=pool)
  ax.set_xlabel("expert")
  ax.set_ylabel("fraction of locations")
  ax.set_title("MoE expert usage per pool (seen adapters)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def _plot_spectra(entropy: dict, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, ax = plt.subplots(figsize=(6, 3))
  names = list(entropy["original"])
  x = np.arange(len(names))
  for i, (kind, values) in enumerate(entropy.items()):
    ax.bar(x + 0.4 * i, [values[n] for n in names], 0.4, label=kind)
  labels = [n.replace("params/", "").replace("EncoderBlock_", "L") for n in names]
  ax.set_xticks(x + 0.2, labels, rotation=45, fontsize=6)
  ax.set_ylabel("spectral entropy of ΔW (nats)")
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
