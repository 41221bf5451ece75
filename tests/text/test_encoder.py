"""The Flax BERT / MiniLM sentence encoder: known answer, padding, other checkpoints, errors."""

import json
import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from paramgen_jax.text import TextEncoder, default_model_dir, load_bert


@pytest.fixture(scope="module")
def encoder():
  return TextEncoder()


def test_known_answer_all_minilm_l6_v2(encoder):
  # sentence-transformers' all-MiniLM-L6-v2 on this sentence (model card example).
  vector = encoder(["This is an example sentence"])[0]
  np.testing.assert_allclose(vector[:5], [0.067657, 0.063496, 0.048713, 0.079305, 0.037448],
                             atol=1e-4)
  assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1) < 1e-5


def test_padding_and_batching_do_not_change_embeddings(encoder):
  short = "Classify handwritten digits."
  long = " ".join(["A much longer description of a binary digit task"] * 8)
  alone = encoder([short])
  batched = encoder([long, short, "zero versus one"])
  np.testing.assert_allclose(batched[1], alone[0], atol=2e-6)
  small_batches = TextEncoder(batch_size=2)([long, short, "zero versus one"])
  np.testing.assert_allclose(small_batches, batched, atol=2e-6)
  similar = encoder(["Recognize handwritten digits.", "The weather is sunny today."])
  assert similar[0] @ alone[0] > similar[1] @ alone[0]  # meaning, not just length


def test_any_bert_family_folder_loads(tmp_path, encoder):
  """A task-head checkpoint ('bert.'-prefixed tensors plus a classifier) gives the same vectors."""
  src = default_model_dir()
  for name in ("config.json", "tokenizer.json"):
    shutil.copy(os.path.join(src, name), tmp_path / name)
  weights = load_file(os.path.join(src, "model.safetensors"))
  renamed = {f"bert.{k}": v for k, v in weights.items()}
  renamed["classifier.weight"] = np.zeros((2, 384), np.float32)
  save_file(renamed, str(tmp_path / "model.safetensors"))
  other = TextEncoder(str(tmp_path))
  assert other.max_length == 256  # no sentence_bert_config.json: the default
  sentences = ["This is an example sentence", "digits four and nine"]
  np.testing.assert_allclose(other(sentences), encoder(sentences), atol=1e-6)


def test_clear_errors(tmp_path, encoder):
  with pytest.raises(FileNotFoundError, match="config.json"):
    load_bert(str(tmp_path))
  (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
  (tmp_path / "model.safetensors").write_bytes(b"")
  with pytest.raises(ValueError, match="not a BERT model"):
    load_bert(str(tmp_path))
  with pytest.raises(TypeError, match="list of strings"):
    encoder("one string")
  assert encoder([]).shape == (0, 384)
