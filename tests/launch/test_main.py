"""The command line: one-line config errors, and the smoke pipeline end to end."""

import importlib
import json
import os
import shutil
import signal
import subprocess
import sys

import pytest

from tests.helpers import REPO, subprocess_env


def launch(*args, cwd=REPO):
  return subprocess.run([sys.executable, os.path.join(REPO, "launch", "main.py"), *args],
                        cwd=cwd, env=subprocess_env(), capture_output=True, text=True,
                        timeout=600)


def launch_in_process(capsys, *args) -> tuple[int, str]:
  """(exit status, stderr) of the launcher's `run` called in this process: for runs that
  stop at a config error, before any work (a process each would cost seconds of imports)."""
  import signal

  from paramgen_jax.cli import run as cli_run
  sigterm = signal.getsignal(signal.SIGTERM)  # the launcher makes SIGTERM an interrupt
  capsys.readouterr()
  try:
    with pytest.raises(SystemExit) as exited:
      cli_run.run([os.path.join(REPO, "launch", "main.py"), *args])
  finally:
    signal.signal(signal.SIGTERM, sigterm)
  return exited.value.code, capsys.readouterr().err


@pytest.mark.parametrize("args, key", [
    (["--config.train.stepz=3"], "config.train.stepz: unknown key"),
    (["--config.nope.x=3"], "config.nope: unknown key"),
    (["--config.train.steps=abc"], "--config.train.steps=abc"),
    (["--config.train.steps=0"], "config.train.steps: must be >= 1, got 0"),
    (["--config.sample.sampler=euler"], "config.sample.sampler: must be one of"),
    (["--config.sample.compute_dtype=float16"], "config.sample.compute_dtype: must be one of"),
    (["--config.mesh.data=3"], "config.mesh:"),
    (["--mode=fit"], "--mode=fit"),
])
def test_config_errors_are_one_line(tmp_path, args, key, capsys):
  status, stderr = launch_in_process(capsys, "--config=configs/toy_gmm.py:smoke",
                                     f"--workdir={tmp_path}", *args)
  assert status == 2
  lines = stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("error: ") and key in lines[0], stderr
  assert not os.path.exists(tmp_path / "config.json")


def test_a_config_error_is_one_line_in_a_fresh_process_too(tmp_path):
  result = launch("--config=configs/toy_gmm.py:smoke", f"--workdir={tmp_path}",
                  "--config.train.stepz=3")
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [
      "error: config.train.stepz: unknown key (known: " + result.stderr.split("(known: ")[1]
      .strip()]


def test_stage_before_its_inputs_is_one_line(tmp_path, capsys):
  status, stderr = launch_in_process(capsys, "--config=configs/zoo_digits_binary.py:smoke",
                                     f"--workdir={tmp_path}", "--mode=eval")
  assert status == 1
  assert stderr.strip().splitlines() == [
      f"error: no zoo in {tmp_path}/zoo: run --mode=collect first"]


def test_missing_or_broken_config_file(tmp_path, capsys, monkeypatch):
  monkeypatch.chdir(tmp_path)
  for args, key in ([], "--config: required"), (["--config=configs/nope.py"], "no such config"), (
      ["--config=configs/toy_gmm.py:huge"], "config preset 'huge' is unknown"), (
      ["--config", "toy_gmm:huge"], "config preset 'huge' is unknown"):  # a bare name
    status, stderr = launch_in_process(capsys, *args, f"--workdir={tmp_path}")
    assert status == 2 and key in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr


@pytest.mark.parametrize("environ, count", [
    ({}, 1),
    ({"SLURM_NTASKS": "4", "SLURM_STEP_NODELIST": "node[1-4]"}, 4),  # srun
    ({"SLURM_NTASKS": "4", "SLURM_STEP_NUM_TASKS": "2", "SLURM_STEP_NODELIST": "n1"}, 2),
    ({"SLURM_NTASKS": "4"}, 1),  # the batch script itself, outside srun
    ({"OMPI_COMM_WORLD_SIZE": "2"}, 2),
    ({"JAX_NUM_PROCESSES": "16", "JAX_PROCESS_ID": "3",
      "JAX_COORDINATOR_ADDRESS": "10.0.0.1:1234"}, 16),
    ({"JAX_PROCESS_COUNT": "1"}, 1),
    ({"TPU_WORKER_HOSTNAMES": "localhost"}, 1),  # one TPU VM
    ({"TPU_WORKER_HOSTNAMES": "t0,t1,t2,t3"}, 4),  # a pod slice: one process per host
    ({"TPU_WORKER_HOSTNAMES": "t0,t1", "MEGASCALE_NUM_SLICES": "2"}, 4),
    ({"MEGASCALE_NUM_SLICES": "2"}, 2),
])
def test_cluster_processes_from_launcher_variables(environ, count):
  assert importlib.import_module("paramgen_jax.cli.run")._cluster_processes(environ) == count


def test_distributed_runtime_starts_only_for_several_processes(monkeypatch):
  import jax
  calls = []
  monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
  start = importlib.import_module("paramgen_jax.cli.run")._start_distributed
  start({"SLURM_NTASKS": "1", "SLURM_STEP_NODELIST": "n1"})
  assert calls == []
  start({"SLURM_NTASKS": "2", "SLURM_STEP_NODELIST": "n[1-2]"})  # JAX reads SLURM itself
  start({"JAX_NUM_PROCESSES": "4", "JAX_PROCESS_ID": "1", "JAX_COORDINATOR_ADDRESS": "h:1"})
  assert calls == [{}, {"num_processes": 4, "process_id": 1}]


@pytest.mark.slow
def test_a_run_on_3_devices_rounds_its_batch_up_in_one_line(tmp_path):
  env = {**subprocess_env(), "XLA_FLAGS": "--xla_force_host_platform_device_count=3 "
                                          + subprocess_env()["XLA_FLAGS"]}
  result = subprocess.run(
      [sys.executable, os.path.join(REPO, "launch", "main.py"), "--config=configs/toy_gmm.py:smoke",
       f"--workdir={tmp_path}", "--config.train.steps=20", "--config.train.warmup_steps=5",
       "--config.train.checkpoint_every=20"],
      cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
  assert result.returncode == 0, result.stderr[-2000:]
  assert ("train.batch_size 256 -> 258: the global batch is rounded up to a multiple of the 3 "
          "data-parallel devices") in result.stdout.splitlines()
  assert json.load(open(tmp_path / "config.json"))["train"]["batch_size"] == 258


@pytest.mark.slow
def test_smoke_pipeline_runs_stage_by_stage_and_resumes(tmp_path):
  base = ["--config=configs/toy_gmm.py:smoke", f"--workdir={tmp_path}"]
  result = launch(*base)
  assert result.returncode == 0, result.stderr
  report = json.load(open(tmp_path / "report.json"))
  assert report["method"] == "toy_gmm" and len(report["components"]) == 2
  assert set(report["timing_s"]) >= {"collect", "train", "sample"}
  for name in ("report.md", "samples.png", "metrics.jsonl", "config.json"):
    assert os.path.getsize(tmp_path / name) > 0
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  assert len(rows) == 200

  # More steps resume from the finished checkpoint instead of starting over.
  result = launch(*base, "--mode=train", "--config.train.steps=250")
  assert result.returncode == 0, result.stderr
  steps = [json.loads(line)["step"] for line in open(tmp_path / "metrics.jsonl")]
  assert steps == list(range(1, 251))
  result = launch(*base, "--mode=eval")
  assert result.returncode == 0, result.stderr


@pytest.mark.slow
def test_non_finite_loss_is_one_line(tmp_path):
  result = launch("--config=configs/toy_gmm.py:smoke", f"--workdir={tmp_path}",
                  "--config.train.lr=1e9", "--config.train.clip_norm=0.0")
  assert result.returncode == 1
  assert "error: non-finite loss" in result.stderr and "last good checkpoint" in result.stderr
  assert "Traceback" not in result.stderr


def _final_params(workdir):
  from paramgen_jax.train import Checkpointer
  with Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
    state, _ = ckpt.restore(ckpt.latest_step(), None)
  return state["params"]


@pytest.mark.slow
def test_sigkilled_training_resumes_to_the_same_parameters(tmp_path):
  import time

  import jax
  import numpy as np

  config = ["--config=configs/toy_gmm.py:smoke", "--config.train.steps=300",
            "--config.train.checkpoint_every=20", "--deterministic"]
  ref, killed = tmp_path / "ref", tmp_path / "killed"
  assert launch(*config, f"--workdir={ref}", "--mode=collect").returncode == 0
  shutil.copytree(ref, killed)  # the same collected zoo
  assert launch(*config, f"--workdir={ref}", "--mode=train").returncode == 0

  process = subprocess.Popen([sys.executable, os.path.join(REPO, "launch", "main.py"), *config,
                              f"--workdir={killed}", "--mode=train"], cwd=REPO,
                             env=subprocess_env(),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
  first = killed / "checkpoints" / "20"
  deadline = time.time() + 300
  while not first.is_dir() and process.poll() is None and time.time() < deadline:
    time.sleep(0.02)
  process.send_signal(signal.SIGSTOP)  # where it is, at once
  process.kill()  # SIGKILL: no chance to save anything more
  process.wait()
  steps_before = [json.loads(line)["step"] for line in open(killed / "metrics.jsonl")]
  assert 20 <= steps_before[-1] < 300, "the run finished before it could be killed"

  assert launch(*config, f"--workdir={killed}", "--mode=train").returncode == 0
  steps = [json.loads(line)["step"] for line in open(killed / "metrics.jsonl")]
  assert steps == list(range(1, 301))
  for a, b in zip(jax.tree_util.tree_leaves(_final_params(ref)),
                  jax.tree_util.tree_leaves(_final_params(killed))):
    np.testing.assert_array_equal(a, b)
