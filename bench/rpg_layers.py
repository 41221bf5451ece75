"""Per-layer comparison of a finished RPG run's generated models with its originals.

  PYTHONPATH=. python bench/rpg_layers.py runs/rpg_vit_tiny rpg_vit_tiny

Used for docs/methods/rpg.md's ViT-tiny paragraph (bench/results/rpg_vit_mamba2_layers_cpu2.txt: the run of
the `:mamba2` preset of that day, now the default).
"""
import sys
import jax, jax.numpy as jnp, numpy as np
from paramgen_jax import runfiles
from paramgen_jax.configlib import load_config
from paramgen_jax.methods import rpg
from paramgen_jax.zoo import spec
from paramgen_jax.zoo.collect import evaluate_unit
from paramgen_jax.zoo.tasks import full_task

workdir, cfgname = sys.argv[1], sys.argv[2]
preset = sys.argv[3] if len(sys.argv) > 3 else None
config = load_config(f"{cfgname}:{preset or ''}")
zoo = spec.zoo_sections(config)
inputs = spec.build_zoo_inputs(zoo, workdir)
rows, stacked = spec.load_checked_zoo(zoo, workdir, split="seen", inputs=inputs)
codec = rpg.load(runfiles.generator_dir(workdir)).codec
gen = runfiles.load_generated(workdir)["full"]
ovec = np.asarray(jax.vmap(codec.encode)(stacked))
gvec = np.asarray(jax.vmap(codec.encode)(gen))
mask, lay = np.asarray(codec.plan.mask), np.asarray(codec.plan.layer_index)
omean = ovec.mean(0)
err_tok = np.sqrt(((gvec - omean[None]) ** 2 * mask[None]).sum(-1) / np.maximum(mask.sum(-1), 1)[None])
print("per-model rms error (normalized):", np.round(np.sqrt((err_tok ** 2).mean(1)), 4))
print("spread among generated (rms of gen - gen mean):",
      round(float(np.sqrt((((gvec - gvec.mean(0)) ** 2) * mask[None]).sum() / (mask.sum() * len(gvec)))), 4),
      " error of generated mean:", round(float(np.sqrt((((gvec.mean(0) - omean) ** 2) * mask).sum() / mask.sum())), 4))
task = full_task()
swaps, names, stats = [], [], []
for g, name in enumerate(codec.layout.groups):
  sel = lay == g
  m = mask[sel]
  e = (gvec[:, sel] - omean[sel][None])[:, m]
  s = ovec[0].copy(); s[sel] = gvec[0][sel]
  swaps.append(s); names.append(name)
  stats.append((float(np.sqrt((e ** 2).mean())), float(e.mean())))
acc = evaluate_unit(inputs.target, inputs.dataset, [task],
                    jax.vmap(codec.decode)(jnp.asarray(np.stack(swaps))), len(swaps))["test"]
# the reverse: generated model 0 with one layer restored to the original
rest = []
for g in range(len(names)):
  sel = lay == g
  s = gvec[0].copy(); s[sel] = ovec[0][sel]; rest.append(s)
racc = evaluate_unit(inputs.target, inputs.dataset, [task],
                     jax.vmap(codec.decode)(jnp.asarray(np.stack(rest))), len(rest))["test"]
g0 = evaluate_unit(inputs.target, inputs.dataset, [task], jax.tree_util.tree_map(lambda a: a[:1], gen), 1)["test"][0]
o0 = evaluate_unit(inputs.target, inputs.dataset, [task], jax.tree_util.tree_map(lambda a: a[:1], stacked), 1)["test"][0]
print(f"original 0: {o0:.2f}  generated 0: {g0:.2f}")
order = np.argsort(acc)
print("layer | rms err | mean err | orig0 with this gen layer | gen0 with this orig layer")
for i in order:
  print(f"{names[i][:55]:55s} {stats[i][0]:.4f} {stats[i][1]:+.4f} {acc[i]:6.2f} {racc[i]:6.2f}")
