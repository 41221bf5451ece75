"""A pytest plugin: each test's CPU time, its own process's and its subprocesses', as JSON
lines. Where the suite's time goes, by test (the suite is CPU-bound on the 2-core machine):

  PYTHONPATH=bench .venv/bin/python -m pytest -q -n 3 -p pytest_cpu
  [PARAMGEN_TEST_CPU_OUT=file.jsonl]   (default bench/results/test_cpu_cpu2.jsonl, appended)

Rows {"commit", "test", "self_cpu_s", "children_cpu_s", "wall_s"}: user + system seconds of
the worker process during the test, and of the child processes it waited for (a smoke run,
a notebook kernel) in that time. A shared smoke run counts towards the test that started it;
tests waiting on its lock count their wait as wall time only. Run it with nothing else busy.
"""

import json
import os
import resource
import subprocess
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.environ.get("PARAMGEN_TEST_CPU_OUT",
                     os.path.join(REPO, "bench", "results", "test_cpu_cpu2.jsonl"))
COMMIT = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                        capture_output=True, text=True).stdout.strip()


def _cpu_seconds(who: int) -> float:
  usage = resource.getrusage(who)
  return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
  own, children = _cpu_seconds(resource.RUSAGE_SELF), _cpu_seconds(resource.RUSAGE_CHILDREN)
  started = time.perf_counter()
  yield
  row = {"commit": COMMIT, "test": item.nodeid,
         "self_cpu_s": round(_cpu_seconds(resource.RUSAGE_SELF) - own, 2),
         "children_cpu_s": round(_cpu_seconds(resource.RUSAGE_CHILDREN) - children, 2),
         "wall_s": round(time.perf_counter() - started, 2)}
  with open(OUT, "a") as f:  # one short line per write: workers append without interleaving
    f.write(json.dumps(row) + "\n")
