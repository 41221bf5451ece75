"""Text encoders for text-conditioned generation (COND P-DIFF, LoRAGen, D2NWG)."""

from paramgen_jax.text.bert import BertConfig, BertEncoder, load_bert
from paramgen_jax.text.encoder import TextEncoder, default_model_dir, pooled_embedding

__all__ = ["BertConfig", "BertEncoder", "load_bert", "TextEncoder", "default_model_dir",
           "pooled_embedding"]
