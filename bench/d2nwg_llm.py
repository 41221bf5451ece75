"""D2NWG's LLM path on all-MiniLM-L6-v2: Marchenko–Pastur selection, chunk diffusion,
Algorithm 1 against paraphrase-retrieval MRR (validation pool), checked on a disjoint test
pool and on another template pair. Writes bench/results/d2nwg_llm.json.

COMMAND (about 15 minutes on 2 CPU cores):
  python bench/d2nwg_llm.py
Smaller (a check that it runs):
  python bench/d2nwg_llm.py --fraction=0.06 --steps=50 --candidates=2 --pool=50 --out=/tmp/llm.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import jax
import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paramgen_jax.methods.d2nwg import llm  # noqa: E402
from paramgen_jax.params.spectrum import rank_layers, select_layers  # noqa: E402
from paramgen_jax.text.encoder import TextEncoder  # noqa: E402


def config(steps: int, chunk: int) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.llm = dict(chunk_size=chunk, embed_dim=32, encoder=(8, 16), decoder=(8,))
  c.diffusion = dict(schedule="linear", timesteps=1000, beta_start=1e-4, beta_end=0.02,
                     prediction="x0")
  c.train = dict(steps=steps, batch_size=32, lr=2e-3, warmup_steps=50, final_lr_ratio=0.0,
                 weight_decay=0.0, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.0,
                 compute_dtype="float32", log_every=50, checkpoint_every=10**9,
                 keep_checkpoints=1, seed=0, fsdp_min_size=2**30)
  c.sample = dict(sampler="ddim", steps=20, eta=0.0, num_samples=1, seed=1, clip_x0=None)
  c.mesh = dict(data=-1)
  return c


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--fraction", type=float, default=0.25, help="share of matrices selected")
  p.add_argument("--steps", type=int, default=1500, help="chunk-diffusion training steps")
  p.add_argument("--chunk", type=int, default=1024)
  p.add_argument("--candidates", type=int, default=3, help="K candidates per layer")
  p.add_argument("--pool", type=int, default=200, help="tasks per retrieval pool")
  p.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                               "d2nwg_llm.json"))
  args = p.parse_args()
  encoder, started = TextEncoder(), time.perf_counter()
  base = encoder.params
  weights = llm.matrices(base)
  ranked = rank_layers(weights)
  chosen = select_layers(weights, args.fraction)
  print(f"Marchenko-Pastur: {len(chosen)} of {len(weights)} matrices, by SNR: "
        + ", ".join(f"{n} ({s.snr:.3f}, {s.above} above the edge)" for n, s in ranked
                    if n in chosen))
  val, test = llm.retrieval_pools(args.pool)
  _, other = llm.retrieval_pools(args.pool, templates=(0, 4))

  def scorer(pool):
    def score(params):
      encoder.params = params
      return llm.retrieval_mrr(encoder, pool)
    return score

  model = llm.train_chunk_diffusion(weights, chosen, config(args.steps, args.chunk))
  keys = iter(jax.random.split(jax.random.key(0), len(chosen)))
  relative = {}

  def candidates(name):
    found = llm.layer_candidates(model, name, args.candidates, next(keys))
    relative[name] = float(np.mean([np.linalg.norm(w - weights[name]) /
                                    np.linalg.norm(weights[name]) for w in found]))
    return found

  improved, history = llm.sequential_improvement(base, chosen, candidates, scorer(val))
  figures = {name: {"base": scorer(pool)(base), "improved": scorer(pool)(improved)}
             for name, pool in (("validation", val), ("test", test),
                                ("test, templates 0 -> 4", other))}
  encoder.params = base
  result = {"command": "python bench/d2nwg_llm.py " + " ".join(sys.argv[1:]),
            "selected": chosen, "snr": {n: s.snr for n, s in ranked},
            "above_edge": {n: s.above for n, s in ranked},
            "candidate_relative_error": relative, "history": history, "mrr": figures,
            "accepted": [h["layer"] for h in history if h.get("accepted")],
            "seconds": round(time.perf_counter() - started, 1)}
  os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
  with open(args.out, "w") as f:
    json.dump(result, f, indent=1)
  for name, f in figures.items():
    print(f"MRR {name}: base {f['base']:.4f} -> after Algorithm 1 {f['improved']:.4f}")
  print(f"accepted layers: {result['accepted']}; wrote {args.out}")


if __name__ == "__main__":
  main()
