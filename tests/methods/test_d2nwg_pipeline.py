"""D2NWG end to end through the launcher at smoke size, and its building blocks."""

import json
import os
import pathlib

import jax.numpy as jnp
import numpy as np
import pytest

from paramgen_jax.methods.d2nwg import model as M
from paramgen_jax.methods.d2nwg import support
from paramgen_jax.zoo import tasks as tasks_lib
from tests.helpers import assert_generated_unchanged, shared_smoke_run


@pytest.mark.slow
def test_d2nwg_digits_smoke(smoke_root):
  workdir, result = shared_smoke_run(smoke_root, "d2nwg_digits")
  assert result["returncode"] == 0, result["stderr"]
  tmp_path = pathlib.Path(workdir)
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "d2nwg" and report["target"] == "mlp"
  assert len(report["seen"]) == 9 and len(report["unseen"]) == 3
  for row in report["seen"] + report["unseen"]:
    assert row["generated"]["n"] == 2 and row["original"]["n"] == 2
  baselines = report["task_baselines"]
  assert set(baselines) == {"nearest seen task", "support fine-tuned", "random init",
                            "VAE reconstruction", "D2NWG, 1-shot support"}
  for name in ("nearest seen task", "support fine-tuned", "random init",
               "D2NWG, 1-shot support"):
    assert baselines[name]["seen"] == {} and baselines[name]["unseen"]["n"] == 3
  assert baselines["VAE reconstruction"]["seen"]["n"] == 9
  for name in ("vae", "align", "diffusion"):
    assert os.path.isdir(tmp_path / name / "checkpoints")
  assert os.path.isdir(tmp_path / "backbone") and os.path.isdir(tmp_path / "codec" / "mlp")
  assert "mlp unseen (3 tasks): generated" in result["stdout"]
  assert_generated_unchanged(tmp_path, "d2nwg_digits")


def test_support_sets_group_classes_in_label_order():
  task = tasks_lib.subset_task([7, 2, 5])
  labels = np.repeat(np.arange(10), 6)
  idx = support.support_indices(labels, task, 3, (0, 4, 1))
  assert idx.shape == (3, 3)
  assert [set(labels[row]) for row in idx] == [{2}, {5}, {7}]
  again = support.support_indices(labels, task, 3, (0, 4, 1))
  np.testing.assert_array_equal(idx, again)
  other = support.support_indices(labels, task, 3, (0, 4, 2))
  assert not np.array_equal(idx, other)
  feats = np.arange(60, dtype=np.float32)[:, None] * np.ones((1, 4), np.float32)
  sets = support.support_sets(feats, labels, [task], [4], 3, 2, 0)
  assert sets.shape == (1, 2, 3, 3, 4)


def test_pad_shots_masks_the_missing_shots():
  x = np.ones((2, 5, 1, 3), np.float32)
  padded, mask = support.pad_shots(x, 4)
  assert padded.shape == (2, 5, 4, 3) and mask.shape == (2, 5, 4)
  assert mask[..., 0].all() and not mask[..., 1:].any() and padded[..., 1:, :].sum() == 0
  with pytest.raises(ValueError, match="larger than the encoder's 4 shots"):
    support.pad_shots(np.ones((5, 6, 3)), 4)


def test_clip_loss_known_answers():
  eye = jnp.eye(4)
  same = M.task_targets(jnp.arange(4))
  # Matched orthonormal embeddings at τ -> 0: the loss goes to zero.
  assert float(M.clip_loss(eye, eye, 0.01, same)) < 1e-6
  # Equal embeddings for every row (collapse): the loss is log(batch) for identity targets.
  flat = jnp.ones((4, 3)) / np.sqrt(3)
  np.testing.assert_allclose(M.clip_loss(flat, flat, 0.1, same), np.log(4), rtol=1e-6)
  # ... and the official soft targets are uniform there too, so collapse is a fixed point.
  np.testing.assert_allclose(M.clip_loss(flat, flat, 0.1), np.log(4), rtol=1e-6)
  # Two rows of one task share their targets.
  task = M.task_targets(jnp.asarray([3, 3, 5]))
  w = jnp.asarray([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
  assert float(M.clip_loss(w, w, 0.01, task)) == pytest.approx(np.log(2) * 2 / 3, rel=1e-4)
  # Latent targets: equal latents share a row's mass, orthogonal ones get ~none at τ 0.01.
  np.testing.assert_allclose(M.latent_targets(w, 0.01), task / task.sum(1, keepdims=True),
                             atol=1e-6)
