"""Shared Flax building blocks."""

from paramgen_jax.nn.embeddings import TimestepEmbedding, sinusoidal_embedding
from paramgen_jax.nn.mlp_denoiser import MLPDenoiser
