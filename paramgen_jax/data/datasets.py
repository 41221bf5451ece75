"""Image classification data: scikit-learn's digits (default), Hugging Face datasets, arrays.

Every loader returns a `Dataset` of NumPy arrays with images as float32 NHWC in [0, 1] and
int32 labels, split into train / val / test.

digits: 1797 images of 8×8, 10 classes. The split is stratified and seeded:
  test = 20% of each class (359), val = 10% of the rest (143), train = the remaining 1295,
so the same seed always gives the same three sets. `image_size=32` upsamples bilinearly
(for conv nets that want more pixels).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
  """x_*: (N, H, W, C) float32 in [0, 1]; y_*: (N,) int32 in [0, num_classes)."""
  name: str
  x_train: np.ndarray
  y_train: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self.x_train.shape[1:])

  def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
    if name not in ("train", "val", "test"):
      raise ValueError(f"split must be 'train', 'val' or 'test', got {name!r}")
    return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

  def summary(self) -> str:
    return (f"{self.name}: {len(self.y_train)} train / {len(self.y_val)} val / "
            f"{len(self.y_test)} test images of {self.image_shape}, {self.num_classes} classes")


def _stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """Indices (rest, taken) with `fraction` of every class taken, seeded."""
  rng = np.random.default_rng(seed)
  taken = []
  for c in np.unique(labels):
    members = np.flatnonzero(labels == c)
    rng.shuffle(members)
    taken.append(members[:int(round(fraction * members.size))])
  taken = np.sort(np.concatenate(taken))
  rest = np.setdiff1d(np.arange(labels.size), taken)
  return rest, taken


def _resize(images: np.ndarray, size: int | None) -> np.ndarray:
  if size is None or images.shape[1] == size:
    return images
  import jax
  resized = jax.image.resize(images, (images.shape[0], size, size, images.shape[3]), "bilinear")
  return np.asarray(resized, np.float32)


def from_arrays(images: np.ndarray, labels: np.ndarray, *, name: str = "arrays", seed: int = 0,
                test_fraction: float = 0.2, val_fraction: float = 0.1,
                image_size: int | None = None, num_classes: int | None = None) -> Dataset:
  """Splits arrays into train/val/test (stratified, seeded).

  Args:
    images: (N, H, W) or (N, H, W, C); uint8 images are scaled to [0, 1], float images kept.
    labels: (N,) integer class ids.
  """
  images = np.asarray(images)
  labels = np.asarray(labels).astype(np.int32)
  if images.shape[0] != labels.shape[0]:
    raise ValueError(f"{images.shape[0]} images but {labels.shape[0]} labels")
  if images.ndim == 3:
    images = images[..., None]
  if images.ndim != 4:
    raise ValueError(f"images must be (N, H, W) or (N, H, W, C), got {images.shape}")
  images = images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(
      np.float32)
  images = _resize(images, image_size)
  rest, test = _stratified_split(labels, test_fraction, seed)
  train_rel, val_rel = _stratified_split(labels[rest], val_fraction, seed + 1)
  train, val = rest[train_rel], rest[val_rel]
  return Dataset(name, images[train], labels[train], images[val], labels[val], images[test],
                 labels[test], int(num_classes or labels.max() + 1))


def load_digits(*, seed: int = 0, image_size: int | None = None) -> Dataset:
  """scikit-learn's 8×8 digits (shipped with the package, no download)."""
  from sklearn.datasets import load_digits as sklearn_digits
  digits = sklearn_digits()
  images = (digits.images / 16.0).astype(np.float32)
  return from_arrays(images, digits.target, name="digits", seed=seed, image_size=image_size,
                     num_classes=10)


def load_hf(path_or_name: str, *, image_key: str = "image", label_key: str = "label",
            seed: int = 0, image_size: int | None = None, test_fraction: float = 0.2,
            val_fraction: float = 0.1) -> Dataset:
  """A Hugging Face dataset: a `save_to_disk` folder, or a hub name (needs the network).

  Uses the dataset's own 'train'/'validation'/'test' splits when it has them; otherwise the
  rows are pooled and split as `from_arrays` does. Images may be PIL images or arrays.
  """
  import datasets

  if os.path.isdir(path_or_name):
    loaded = datasets.load_from_disk(path_or_name)
  else:
    loaded = datasets.load_dataset(path_or_name)
  splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"all": loaded}

  def arrays(ds: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = ds.with_format("numpy")[:]
    images = rows[image_key]
    if images.dtype == object:  # PIL images or ragged lists
      images = np.stack([np.asarray(im) for im in images])
    return images, np.asarray(rows[label_key])

  name = os.path.basename(os.path.normpath(path_or_name))
  if "train" in splits and "test" in splits:
    x_tr, y_tr = arrays(splits["train"])
    x_te, y_te = arrays(splits["test"])
    num_classes = int(max(y_tr.max(), y_te.max()) + 1)
    train = from_arrays(x_tr, y_tr, name=name, seed=seed, test_fraction=0.0,
                        val_fraction=0.0 if "validation" in splits else val_fraction,
                        image_size=image_size, num_classes=num_classes)
    test = from_arrays(x_te, y_te, seed=seed, test_fraction=0.0, val_fraction=0.0,
                       image_size=image_size, num_classes=num_classes)
    if "validation" in splits:
      val = from_arrays(*arrays(splits["validation"]), seed=seed, test_fraction=0.0,
                        val_fraction=0.0, image_size=image_size, num_classes=num_classes)
      x_val, y_val = val.x_train, val.y_train
    else:
      x_val, y_val = train.x_val, train.y_val
    return Dataset(name, train.x_train, train.y_train, x_val, y_val, test.x_train, test.y_train,
                   num_classes)
  pooled = [arrays(ds) for ds in splits.values()]
  images = np.concatenate([p[0] for p in pooled])
  labels = np.concatenate([p[1] for p in pooled])
  return from_arrays(images, labels, name=name, seed=seed, test_fraction=test_fraction,
                     val_fraction=val_fraction, image_size=image_size)


def load(name: str, **kwargs) -> Dataset:
  """By name: 'digits', or a Hugging Face folder / hub name (`hf:<path or name>`)."""
  if name == "digits":
    return load_digits(**kwargs)
  if name.startswith("hf:"):
    return load_hf(name[3:], **kwargs)
  raise ValueError(f"unknown dataset {name!r}: use 'digits' or 'hf:<folder or hub name>'")
