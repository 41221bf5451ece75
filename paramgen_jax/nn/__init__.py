"""Shared Flax building blocks."""

from paramgen_jax.nn.embeddings import TimestepEmbedding, sinusoidal_embedding
from paramgen_jax.nn.mlp_denoiser import MLPDenoiser
from paramgen_jax.nn.sequence import BACKBONES, make_backbone
from paramgen_jax.nn.ssm import MambaLayer, MambaStack, selective_scan
from paramgen_jax.nn.unet1d import TokenUNet
