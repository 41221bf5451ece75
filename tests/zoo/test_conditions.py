"""Task conditions as vectors: bit codes, prompts with two examples, MiniLM embeddings."""

import numpy as np
import pytest

from paramgen_jax.zoo import conditions as C
from paramgen_jax.zoo import tasks as T


def test_binary_prompts_have_a_positive_and_a_negative_example():
  task = T.binary_task(0b0000001010)  # digits 1 and 3 positive
  shots = C.few_shot_examples(task, seed=0)
  assert [label for _, label in shots] == [0, 1]
  assert all(task.label_map[d] == label for d, label in shots)
  assert shots == C.few_shot_examples(task, seed=0)  # seeded
  prompt = C.task_prompt(task, with_examples=True)
  assert prompt.startswith(task.descriptions[0]) and "-> yes" in prompt and "-> no" in prompt
  assert C.task_prompt(task, with_examples=False) == task.descriptions[0]


def test_subset_prompts_use_class_labels():
  task = T.subset_task([2, 5, 7])
  prompt = C.task_prompt(task, with_examples=True)
  assert "-> class 0" in prompt and "-> class 1" in prompt


def test_bit_conditions_need_binary_tasks():
  bits = C.bit_conditions([T.binary_task(0b0000000110)])
  assert bits.dtype == np.float32 and bits[0].tolist() == [0, 1, 1, 0, 0, 0, 0, 0, 0, 0]
  with pytest.raises(ValueError, match="binary tasks"):
    C.bit_conditions([T.full_task()])


def test_text_conditions_differ_with_examples():
  tasks = [T.binary_task(5), T.binary_task(6)]
  plain = C.text_conditions(tasks, with_examples=False)
  shots = C.text_conditions(tasks, with_examples=True)
  assert plain.shape == (2, 384)
  np.testing.assert_allclose(np.linalg.norm(shots, axis=1), 1.0, rtol=1e-5)
  assert float(plain[0] @ shots[0]) < 0.999
