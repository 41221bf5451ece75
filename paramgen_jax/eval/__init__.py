"""Evaluation: baselines, memorization, COND P-DIFF's protocol and the report.

    report = evaluate_generated(spec.zoo_sections(config), workdir, "rpg",
                                generated={task: stacked, ...}, run_config=config_json)

`evaluate_generated` (entry.py) is the one entry point every method calls; `evaluate_zoo`
and `write_report` (report.py) are its parts. The accuracy of many parameter sets is
`paramgen_jax.zoo.accuracy` (zoo collection needs it and never imports this package).
"""

from paramgen_jax.eval.entry import Report, drop_nonfinite, evaluate_generated
from paramgen_jax.eval.report import ZooEvaluation, evaluate_zoo, write_report
from paramgen_jax.eval.stats import summary
from paramgen_jax.eval.verdicts import report_verdicts, verdict
