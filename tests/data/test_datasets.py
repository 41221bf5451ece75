"""Data loaders: digits split, arrays, and a Hugging Face dataset saved to a local folder."""

import numpy as np
import pytest

from paramgen_jax import data


def test_digits_split_is_seeded_stratified_and_disjoint():
  d = data.load_digits(seed=0)
  assert (len(d.y_train), len(d.y_val), len(d.y_test)) == (1295, 143, 359)
  assert d.image_shape == (8, 8, 1) and d.num_classes == 10
  assert d.x_train.dtype == np.float32 and 0.0 <= d.x_train.min() and d.x_train.max() == 1.0
  counts = np.bincount(d.y_test, minlength=10)
  assert counts.min() >= 34 and counts.max() <= 37  # about 20% of every class
  pool = np.concatenate([d.x_train, d.x_val, d.x_test]).reshape(-1, 64)
  from sklearn.datasets import load_digits
  original = (load_digits().images / 16.0).astype(np.float32).reshape(-1, 64)
  assert len(pool) == 1797  # every image once: the same multiset as the original data
  np.testing.assert_array_equal(np.unique(pool, axis=0), np.unique(original, axis=0))
  again = data.load_digits(seed=0)
  np.testing.assert_array_equal(again.y_test, d.y_test)
  other = data.load_digits(seed=1)
  assert not np.array_equal(other.y_test, d.y_test)


def test_upsampling():
  d = data.load_digits(image_size=32)
  assert d.image_shape == (32, 32, 1)
  small = data.load_digits()
  np.testing.assert_allclose(d.x_test.mean(), small.x_test.mean(), rtol=0.05)


def test_from_arrays_scales_uint8_and_checks_shapes():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (100, 6, 6, 3), dtype=np.uint8)
  labels = np.repeat(np.arange(4), 25)
  d = data.from_arrays(images, labels, seed=3)
  assert d.x_train.max() <= 1.0 and d.num_classes == 4
  assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 100
  with pytest.raises(ValueError, match="labels"):
    data.from_arrays(images, labels[:10])
  with pytest.raises(ValueError, match="unknown dataset"):
    data.load("cifar")


def test_hugging_face_folder(tmp_path):
  import datasets
  datasets.disable_progress_bars()
  rng = np.random.default_rng(0)
  make = lambda n: datasets.Dataset.from_dict({
      "img": rng.integers(0, 256, (n, 5, 5), dtype=np.uint8).tolist(),
      "y": np.tile(np.arange(3), n // 3 + 1)[:n].tolist()})
  datasets.DatasetDict({"train": make(60), "test": make(30)}).save_to_disk(tmp_path / "dd")
  d = data.load(f"hf:{tmp_path / 'dd'}", image_key="img", label_key="y")
  assert len(d.y_test) == 30 and len(d.y_train) + len(d.y_val) == 60
  assert d.image_shape == (5, 5, 1) and d.num_classes == 3
  make(45).save_to_disk(tmp_path / "single")
  d = data.load_hf(str(tmp_path / "single"), image_key="img", label_key="y")
  assert len(d.y_train) + len(d.y_val) + len(d.y_test) == 45
