"""The main command on two processes through JAX's own distributed runtime (a coordinator on
localhost, CPU collectives), 2 processes x 4 simulated devices, against one process on one
device: the same losses, generated models and report figures; process 0 is the only writer;
a run whose processes are killed resumes to the same result."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import REPO, shared_smoke_run, subprocess_env

# Runs the launcher with an audit hook that records every file this process creates, opens
# for writing, renames, removes or makes under the workdir (Python's own file calls; Orbax's
# tensorstore writes are outside Python and are Orbax's multi-process protocol).
WATCHED = r"""
import atexit, json, os, runpy, sys
workdir, record = os.path.realpath(sys.argv[1]), sys.argv[2]
sys.argv = [os.path.join(os.environ["PYTHONPATH"], "launch", "main.py"), *sys.argv[3:]]
writes = []
PATH_EVENTS = {"os.rename", "os.remove", "os.mkdir", "os.rmdir", "shutil.rmtree",
               "os.truncate", "os.symlink", "os.link", "os.chmod", "os.utime"}
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def inside(path):
  if isinstance(path, int) or path is None:
    return False
  return os.path.realpath(os.fsdecode(path)).startswith(workdir)

def hook(event, args):
  if event == "open":
    path, mode, flags = args
    if (any(c in (mode or "") for c in "wax+") or (flags or 0) & WRITE_FLAGS) and inside(path):
      writes.append([event, os.fsdecode(path)])
  elif event in PATH_EVENTS and args and inside(args[0]):
    writes.append([event, os.fsdecode(args[0])])

atexit.register(lambda: json.dump(writes, open(record, "w")))
sys.addaudithook(hook)
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def env_with_devices(count: int, **extra) -> dict:
  env = subprocess_env()
  env["XLA_FLAGS"] = f"{env['XLA_FLAGS']} --xla_force_host_platform_device_count={count}"
  env.update(extra)
  return env


def start_two(workdir, tmp_path, *args) -> list[subprocess.Popen]:
  """Two processes of 4 devices each, one job: what `srun` or a TPU host group starts."""
  port, processes = free_port(), []
  for pid in range(2):
    env = env_with_devices(4, JAX_COORDINATOR_ADDRESS=f"localhost:{port}",
                           JAX_NUM_PROCESSES="2", JAX_PROCESS_ID=str(pid))
    log = open(tmp_path / f"process{pid}.log", "a")
    processes.append(subprocess.Popen(
        [sys.executable, "-c", WATCHED, str(workdir), str(tmp_path / f"writes{pid}.json"),
         *args, f"--workdir={workdir}"], cwd=REPO, env=env, stdout=log, stderr=log))
  return processes


def finish(processes, tmp_path):
  for pid, process in enumerate(processes):
    assert process.wait(timeout=600) == 0, (tmp_path / f"process{pid}.log").read_text()[-3000:]


def losses(workdir, name):
  return [row["loss"] for row in map(json.loads, open(os.path.join(workdir, name)))]


def generated(workdir):
  import jax

  from paramgen_jax import runfiles

  return {task: jax.tree_util.tree_leaves(models)
          for task, models in runfiles.load_generated(str(workdir)).items()}


def assert_same_run(one, two, metrics):
  for name in metrics:
    np.testing.assert_allclose(losses(two, name), losses(one, name), rtol=1e-5, atol=1e-6)
  models_one, models_two = generated(one), generated(two)
  assert models_one.keys() == models_two.keys()
  for task in models_one:
    for a, b in zip(models_one[task], models_two[task]):
      np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-5)
  assert_same_report(one, two)


def assert_same_report(one, two):
  report_one, report_two = (json.load(open(os.path.join(d, "report.json"))) for d in (one, two))
  for split in ("seen", "unseen"):
    for a, b in zip(report_one[split], report_two[split]):
      assert a["task"] == b["task"]
      assert b["generated"]["mean"] == pytest.approx(a["generated"]["mean"], abs=1e-5)


def assert_one_writer(tmp_path, expect="report.json"):
  """Process 1 wrote nothing of ours. Orbax's multi-process save has every process write a
  note of its own shards into the step's temporary folder, removed when the step commits:
  that protocol is Orbax's, and a state split over hosts needs it."""
  writes = [json.load(open(tmp_path / f"writes{pid}.json")) for pid in range(2)]
  ours = [w for w in writes[1] if ".orbax-checkpoint-tmp" not in w[1]]
  assert ours == [], ours[:10]
  written = {part.split(".tmp")[0] for _, path in writes[0] for part in path.split(os.sep)}
  assert {"config.json", "timing.json", expect} <= written, sorted(written)[:20]


@pytest.mark.slow
def test_pdiff_on_two_processes_killed_and_resumed_equals_one_device(smoke_root, tmp_path):
  """The whole p-diff pipeline (collect, train, sample, eval) on 2 processes x 4 devices,
  killed during training and run again, against the one-device smoke run of the same config
  (its global batch of 8 fits 8 devices unrounded; checkpoints every 2 steps instead of 10,
  which changes no number)."""
  one, result = shared_smoke_run(smoke_root, "pdiff_digits")
  assert result["returncode"] == 0, result["stderr"]
  args = ["--config=configs/pdiff_digits.py:smoke", "--config.train.checkpoint_every=2"]
  two = tmp_path / "two"
  processes = start_two(two, tmp_path, *args)
  checkpoints = two / "diffusion" / "checkpoints"
  deadline = time.time() + 300
  while (not (checkpoints.is_dir() and any(p.isdigit() for p in os.listdir(checkpoints)))
         and all(p.poll() is None for p in processes) and time.time() < deadline):
    time.sleep(0.02)
  for process in processes:  # stopped at once where they are, then the job dies
    process.send_signal(signal.SIGSTOP)
  for process in processes:  # one process killed, then the other
    process.send_signal(signal.SIGKILL)
    process.wait()
  assert not (two / "report.json").exists(), "the run finished before it could be killed"

  finish(start_two(two, tmp_path, *args), tmp_path)
  assert_same_run(one, two, ["autoencoder/metrics.jsonl", "diffusion/metrics.jsonl"])
  assert_one_writer(tmp_path)


@pytest.mark.slow
def test_rpg_sample_and_eval_on_two_processes_give_the_one_device_models_from_one_writer(
    smoke_root, tmp_path):
  """RPG's stages after training on two processes, from the trained smoke run (training on
  two processes is the engine the p-diff test covers): process 0 samples alone, its tokens
  split over its 4 devices, and evaluates; the second process waits and writes nothing."""
  source, result = shared_smoke_run(smoke_root, "rpg_convnext")
  assert result["returncode"] == 0, result["stderr"]
  two = tmp_path / "two"
  shutil.copytree(source, two, ignore=shutil.ignore_patterns("generated", "report.*"))
  args = ["--config=configs/rpg_convnext.py:smoke"]
  for mode in ("sample", "eval"):
    finish(start_two(two, tmp_path, *args, f"--mode={mode}"), tmp_path)
    assert_one_writer(tmp_path, expect={"sample": "generated", "eval": "report.json"}[mode])
  models_one, models_two = generated(source), generated(two)
  assert models_one.keys() == models_two.keys()
  for task in models_one:
    for a, b in zip(models_one[task], models_two[task], strict=True):
      np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)
  assert_same_report(source, two)
