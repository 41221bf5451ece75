"""Data: digits (default, shipped with scikit-learn), Hugging Face datasets, NumPy arrays."""

from paramgen_jax.data.datasets import Dataset, from_arrays, load, load_digits, load_hf
