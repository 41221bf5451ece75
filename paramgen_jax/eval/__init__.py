"""Evaluation: accuracy of many parameter sets, baselines, memorization, reports.

The entry point that scores a method's generated models against its zoo is
`paramgen_jax.eval.entry.evaluate_generated`; it is not imported here because it loads the
zoo library, which itself uses this package's accuracy functions during collection.
"""

from paramgen_jax.eval.accuracy import accuracy, correct_matrix, predict_many
from paramgen_jax.eval.report import ZooEvaluation, evaluate_zoo, write_report
from paramgen_jax.eval.stats import summary
