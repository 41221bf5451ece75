"""The smallest complete pipeline: diffusion on a 1-D Gaussian mixture.

Not one of the papers: it exercises the shared pieces end to end (schedules, loss,
samplers, training engine, checkpoints, launcher, report) on data whose answer is known,
so its report says how well the component means and weights are recovered.

Stages (files in the workdir):
  collect -> data.npz      draws `data.num_points` points from the mixture
  train   -> checkpoints/  trains an MLP denoiser with `train.fit`
  sample  -> samples.npz   `sample.num_samples` points with the configured sampler
  eval    -> report.json, report.md, samples.png
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import numpy as np

from paramgen_jax import configlib as C
from paramgen_jax import stage_helpers as H
from paramgen_jax.methods.toy_gmm.core import (component_stats, draw_mixture, init_fn,
                                               sample_points, train_denoiser)

SCHEMA = {
    "method": C.one_of("toy_gmm"),
    "data": {
        "means": C.sequence(float, 1),
        "stds": C.sequence(float, 1),
        "weights": C.sequence(float, 1),
        "num_points": C.integer(1),
        "seed": C.integer(0),
    },
    "model": {"hidden": C.integer(1), "depth": C.integer(1)},
    "diffusion": C.DIFFUSION_SCHEMA,
    "train": C.TRAIN_SCHEMA,
    "sample": C.SAMPLE_SCHEMA,
    "mesh": C.MESH_FIELD,
}


def validate(config: Any) -> None:
  """Cross-field checks of the data section."""
  d = config.data
  C.require(len(d.stds) == len(d.means), "data.stds",
            f"needs one entry per mean ({len(d.means)}), got {len(d.stds)}")
  C.require(len(d.weights) == len(d.means), "data.weights",
            f"needs one entry per mean ({len(d.means)}), got {len(d.weights)}")
  C.require(all(s > 0 for s in d.stds), "data.stds", f"must be > 0, got {list(d.stds)}")
  C.require(all(w > 0 for w in d.weights) and abs(sum(d.weights) - 1) < 1e-6, "data.weights",
            f"must be positive and sum to 1, got {list(d.weights)}")


def collect(config: Any, workdir: str) -> None:
  """Draws the mixture's points into workdir/data.npz (once)."""
  path = os.path.join(workdir, "data.npz")
  if os.path.exists(path):
    return
  d = config.data
  points = draw_mixture(d.means, d.stds, d.weights, d.num_points, d.seed)
  np.savez(path + ".tmp.npz", points=points)
  os.replace(path + ".tmp.npz", path)


def train(config: Any, workdir: str) -> None:
  """Trains the denoiser on data.npz; checkpoints in workdir/checkpoints (resumable)."""
  data = np.load(os.path.join(workdir, "data.npz"))["points"]
  train_denoiser(config, data, workdir)


def sample(config: Any, workdir: str) -> None:
  """Samples `sample.num_samples` points with the latest checkpoint into samples.npz."""
  params, step = H.load_trained_params(config, workdir, init_fn(config))
  points = sample_points(config, params, config.sample.num_samples,
                         jax.random.key(config.sample.seed))
  np.savez(os.path.join(workdir, "samples.npz"), points=points, train_step=step)


def evaluate(config: Any, workdir: str) -> None:
  """Scores the samples against the true mixture: report.json, report.md, samples.png."""
  d = config.data
  samples = np.load(os.path.join(workdir, "samples.npz"))["points"]
  data = np.load(os.path.join(workdir, "data.npz"))["points"]
  found = component_stats(samples, d.means)
  rows = [{"true_mean": m, "sampled_mean": found["mean"][k], "true_weight": w,
           "sampled_weight": found["weight"][k], "true_std": s, "sampled_std": found["std"][k]}
          for k, (m, s, w) in enumerate(zip(d.means, d.stds, d.weights))]
  timing_path = os.path.join(workdir, "timing.json")
  report = {
      "method": "toy_gmm",
      "sampler": config.sample.sampler,
      "sampler_steps": (config.diffusion.timesteps if config.sample.sampler == "ddpm"
                        else config.sample.steps),
      "num_samples": int(samples.shape[0]),
      "components": rows,
      "max_mean_error": max(abs(r["sampled_mean"] - r["true_mean"]) for r in rows),
      "max_weight_error": max(abs(r["sampled_weight"] - r["true_weight"]) for r in rows),
      "timing_s": json.load(open(timing_path)) if os.path.exists(timing_path) else {},
  }
  with open(os.path.join(workdir, "report.json"), "w") as f:
    json.dump(report, f, indent=2)
  lines = [f"# toy_gmm report ({report['sampler']}, {report['sampler_steps']} steps, "
           f"{report['num_samples']} samples)", "",
           "| component | true mean | sampled mean | true weight | sampled weight |",
           "|---|---|---|---|---|"]
  lines += [f"| {k} | {r['true_mean']:.3f} | {r['sampled_mean']:.3f} | {r['true_weight']:.3f} "
            f"| {r['sampled_weight']:.3f} |" for k, r in enumerate(rows)]
  lines += ["", f"max |mean error| = {report['max_mean_error']:.4f}, "
            f"max |weight error| = {report['max_weight_error']:.4f}", "",
            "![samples](samples.png)"]
  with open(os.path.join(workdir, "report.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
  _plot(d, data, samples, os.path.join(workdir, "samples.png"))


def _plot(d: Any, data: np.ndarray, samples: np.ndarray, path: str) -> None:
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  lo = min(m - 4 * s for m, s in zip(d.means, d.stds))
  hi = max(m + 4 * s for m, s in zip(d.means, d.stds))
  grid = np.linspace(lo, hi, 400)
  density = sum(w * np.exp(-0.5 * ((grid - m) / s) ** 2) / (s * np.sqrt(2 * np.pi))
                for m, s, w in zip(d.means, d.stds, d.weights))
  fig, ax = plt.subplots(figsize=(6, 3.5))
  bins = np.linspace(lo, hi, 80)
  ax.hist(data.ravel(), bins=bins, density=True, alpha=0.4, label="training data")
  ax.hist(samples.ravel(), bins=bins, density=True, histtype="step", lw=1.5, label="sampled")
  ax.plot(grid, density, "k--", lw=1, label="true density")
  ax.set_xlabel("x")
  ax.set_ylabel("density")
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)
