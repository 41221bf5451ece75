"""A BERT encoder in Flax that loads Hugging Face BERT-family safetensors checkpoints.

    config, params = load_bert(folder)            # config.json + model.safetensors
    hidden = BertEncoder(config).apply(params, input_ids (L,), attention_mask (L,))   # (L, H)

Written for one sequence; batch with `jax.vmap`. Post-LN transformer layers (self-attention,
then a GELU MLP, each followed by a residual and LayerNorm), absolute position embeddings and
token-type embeddings, as in `transformers.BertModel` (the pooler is not used). Padded
positions (attention_mask 0) are excluded as attention keys.
"""

from __future__ import annotations

import json
import os
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class BertConfig(NamedTuple):
  vocab_size: int
  hidden_size: int
  num_layers: int
  num_heads: int
  intermediate_size: int
  max_positions: int
  type_vocab_size: int
  layer_norm_eps: float
  hidden_act: str = "gelu"

  @classmethod
  def from_json(cls, path: str) -> "BertConfig":
    with open(path) as f:
      raw = json.load(f)
    if raw.get("model_type", "bert") not in ("bert",) or raw.get(
        "position_embedding_type", "absolute") != "absolute":
      raise ValueError(f"{path}: not a BERT model with absolute positions (model_type="
                       f"{raw.get('model_type')!r})")
    return cls(raw["vocab_size"], raw["hidden_size"], raw["num_hidden_layers"],
               raw["num_attention_heads"], raw["intermediate_size"],
               raw["max_position_embeddings"], raw.get("type_vocab_size", 2),
               raw.get("layer_norm_eps", 1e-12), raw.get("hidden_act", "gelu"))


_ACTIVATIONS = {"gelu": lambda x: jax.nn.gelu(x, approximate=False),
                "gelu_new": lambda x: jax.nn.gelu(x, approximate=True), "relu": jax.nn.relu}


class BertLayer(nn.Module):
  config: BertConfig

  @nn.compact
  def __call__(self, x: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """(L, H), (L,) -> (L, H)."""
    c = self.config
    heads, head_dim = c.num_heads, c.hidden_size // c.num_heads
    split = lambda y: y.reshape(y.shape[0], heads, head_dim)
    q = split(nn.Dense(c.hidden_size, name="query")(x))
    k = split(nn.Dense(c.hidden_size, name="key")(x))
    v = split(nn.Dense(c.hidden_size, name="value")(x))
    logits = jnp.einsum("qhd,khd->hqk", q, k) / np.sqrt(head_dim)
    logits = jnp.where(attention_mask[None, None, :] > 0, logits, jnp.finfo(logits.dtype).min)
    attended = jnp.einsum("hqk,khd->qhd", jax.nn.softmax(logits, axis=-1), v)
    attended = nn.Dense(c.hidden_size, name="attention_out")(
        attended.reshape(x.shape[0], c.hidden_size))
    x = nn.LayerNorm(epsilon=c.layer_norm_eps, name="attention_norm")(x + attended)
    hidden = _ACTIVATIONS[c.hidden_act](nn.Dense(c.intermediate_size, name="intermediate")(x))
    out = nn.Dense(c.hidden_size, name="output")(hidden)
    return nn.LayerNorm(epsilon=c.layer_norm_eps, name="output_norm")(x + out)


class BertEncoder(nn.Module):
  config: BertConfig

  @nn.compact
  def __call__(self, input_ids: jax.Array, attention_mask: jax.Array,
               token_type_ids: jax.Array | None = None) -> jax.Array:
    """(L,) int, (L,) {0, 1}, (L,) int or None -> last hidden states (L, H)."""
    c = self.config
    if input_ids.shape[0] > c.max_positions:
      raise ValueError(f"sequence of {input_ids.shape[0]} tokens exceeds the model's "
                       f"{c.max_positions} positions")
    token_type_ids = jnp.zeros_like(input_ids) if token_type_ids is None else token_type_ids
    x = (nn.Embed(c.vocab_size, c.hidden_size, name="word_embeddings")(input_ids)
         + nn.Embed(c.max_positions, c.hidden_size, name="position_embeddings")(
             jnp.arange(input_ids.shape[0]))
         + nn.Embed(c.type_vocab_size, c.hidden_size, name="token_type_embeddings")(
             token_type_ids))
    x = nn.LayerNorm(epsilon=c.layer_norm_eps, name="embeddings_norm")(x)
    for i in range(c.num_layers):
      x = BertLayer(c, name=f"layer_{i}")(x, attention_mask)
    return x


def _hf_to_flax(weights: dict[str, np.ndarray], config: BertConfig) -> dict:
  """Hugging Face BertModel tensor names -> this module's parameter tree."""
  prefix = "bert." if any(k.startswith("bert.") for k in weights) else ""

  def get(name):
    key = prefix + name
    if key not in weights:
      raise KeyError(f"checkpoint has no tensor {key!r}: not a BERT-family layout")
    return np.asarray(weights[key], np.float32)

  def dense(name):
    return {"kernel": get(f"{name}.weight").T, "bias": get(f"{name}.bias")}

  def norm(name):
    return {"scale": get(f"{name}.weight"), "bias": get(f"{name}.bias")}

  params = {
      "word_embeddings": {"embedding": get("embeddings.word_embeddings.weight")},
      "position_embeddings": {"embedding": get("embeddings.position_embeddings.weight")},
      "token_type_embeddings": {"embedding": get("embeddings.token_type_embeddings.weight")},
      "embeddings_norm": norm("embeddings.LayerNorm"),
  }
  for i in range(config.num_layers):
    p = f"encoder.layer.{i}."
    params[f"layer_{i}"] = {
        "query": dense(p + "attention.self.query"), "key": dense(p + "attention.self.key"),
        "value": dense(p + "attention.self.value"),
        "attention_out": dense(p + "attention.output.dense"),
        "attention_norm": norm(p + "attention.output.LayerNorm"),
        "intermediate": dense(p + "intermediate.dense"), "output": dense(p + "output.dense"),
        "output_norm": norm(p + "output.LayerNorm")}
  return {"params": params}


def load_bert(folder: str) -> tuple[BertConfig, Any]:
  """(config, Flax variables) from a folder with config.json and model.safetensors."""
  from safetensors.numpy import load_file
  for name in ("config.json", "model.safetensors"):
    if not os.path.exists(os.path.join(folder, name)):
      raise FileNotFoundError(f"{folder}: no {name} (expected a Hugging Face BERT checkpoint)")
  config = BertConfig.from_json(os.path.join(folder, "config.json"))
  return config, _hf_to_flax(load_file(os.path.join(folder, "model.safetensors")), config)
