"""Evaluation: accuracy of many parameter sets, baselines, memorization, reports."""

from paramgen_jax.eval.accuracy import accuracy, correct_matrix, predict_many
from paramgen_jax.eval.report import evaluate_zoo, write_report
from paramgen_jax.eval.stats import summary
