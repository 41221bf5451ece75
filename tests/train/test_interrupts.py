"""Real SIGINT / SIGTERM at random moments of `fit`, in child processes.

Each signal must end with the last completed step checkpointed and verified, and the
process with status 130; resuming must give bit-identical parameters to a run that was
never interrupted, with every step logged once. A child runs `fit` again after each of
its interrupts (in process, so one JAX start serves several real signals); its last
interrupt ends it with status 130, and a fresh child resumes to the end.
"""

import os
import queue
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent import futures

import numpy as np
import pytest

from paramgen_jax import train as T
from tests.train.test_engine import run, train_config

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 400
CHECKPOINT_EVERY = 25
CHAINS = 2  # child processes interrupted ...
SIGNALS_PER_CHAIN = 10  # ... this many times each: 20 real signals in all
MAX_DELAY_S = 0.2  # up to ~40 steps of ~4 ms (the batch's "loading") and a checkpoint

HELPER = textwrap.dedent('''
    import os, signal, sys, time

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # as launch/main.py does

    import jax, jax.numpy as jnp, ml_collections, numpy as np
    from paramgen_jax.train import loop, mesh as mesh_lib

    CFG = ml_collections.ConfigDict(dict(
        steps=%(steps)d, batch_size=8, lr=1e-2, warmup_steps=10, final_lr_ratio=0.1,
        weight_decay=1e-4, b1=0.9, b2=0.999, clip_norm=1.0, ema_decay=0.9,
        compute_dtype="float32", log_every=5, keep_checkpoints=2,
        seed=0, fsdp_min_size=2**20, checkpoint_every=%(checkpoint_every)d))
    LAST = {"done": None}  # the last step a hook saw completed

    def init_params(key):
      k1, k2 = jax.random.split(key)
      return {"w1": jax.random.normal(k1, (4, 32)) * 0.5,
              "w2": jax.random.normal(k2, (32, 1)) * 0.5}

    def loss_fn(params, batch, rng):
      x, y = batch
      keep = jax.random.bernoulli(rng, 0.9, (x.shape[0], 32))
      return jnp.mean(jnp.square(jnp.tanh(x @ params["w1"]) * keep @ params["w2"] - y)), {}

    def batch_fn(step):
      time.sleep(0.004)  # loading: a step takes about as long as a checkpoint every 25
      x = np.random.default_rng([3, step]).normal(size=(8, 4)).astype(np.float32)
      return x, np.sin(x.sum(1, keepdims=True))

    def hook(done, state, metrics):
      if LAST["done"] is None:
        print("HELPER started", flush=True)  # handlers are in place, a step is done
      LAST["done"] = done

    def train(workdir):
      return loop.fit(CFG, init_params=init_params, loss_fn=loss_fn, batch_fn=batch_fn,
                      workdir=workdir, key=jax.random.key(0), progress=False, hooks=[hook],
                      mesh=mesh_lib.make_mesh(devices=jax.devices()[:1]))

    def interrupted(workdir, times):
      abstract = jax.eval_shape(lambda: loop.TrainState.create(
          init_params(jax.random.key(0)), loop.make_optimizer(CFG)[0], use_ema=True))
      for i in range(times):
        LAST["done"] = None
        try:
          train(workdir)
        except KeyboardInterrupt:
          if i == times - 1:
            raise
          _, latest = loop.restore_latest(workdir, abstract)  # verifies the checkpoint
          print(f"HELPER interrupted {LAST['done']} {latest}", flush=True)
          continue
        print("HELPER finished early", flush=True)
        return

    def main(workdir, mode):
      if mode.startswith("interrupt:"):
        return interrupted(workdir, int(mode.split(":")[1]))
      leaves = jax.tree_util.tree_leaves(train(workdir))
      np.savez(os.path.join(workdir, "final.npz"), *[np.asarray(x) for x in leaves])

    if __name__ == "__main__":
      try:
        main(*sys.argv[1:])
      except KeyboardInterrupt:
        print(f"HELPER exiting {LAST['done']}", flush=True)
        sys.exit(130)
''')


def _start(helper, workdir, mode):
  """The child and a queue of its 'HELPER ...' stdout lines (stderr goes to a file)."""
  os.makedirs(workdir, exist_ok=True)
  # A compilation cache per chain: a re-run `fit` (a new jit) loads its step instead of
  # compiling it again. Not shared across chains: JAX writes its entries non-atomically.
  env = dict(os.environ, PYTHONPATH=REPO, JAX_COMPILATION_CACHE_DIR=f"{workdir}.jax",
             JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
             JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0")
  with open(os.path.join(workdir, "stderr.txt"), "w") as stderr:
    proc = subprocess.Popen([sys.executable, helper, workdir, mode], stdout=subprocess.PIPE,
                            stderr=stderr, text=True, env=env)
  lines = queue.Queue()

  def read():
    for line in proc.stdout:
      if line.startswith("HELPER "):
        lines.put(line.split()[1:])
    lines.put(["eof"])

  threading.Thread(target=read, daemon=True).start()
  return proc, lines


def _finish(proc, workdir, expected_status):
  status = proc.wait(timeout=120)
  with open(os.path.join(workdir, "stderr.txt")) as f:
    assert status == expected_status, f.read()[-3000:]


def _check_checkpoint(workdir, step):
  """The newest checkpoint is `step` and verifies (the checksum is the same either way)."""
  with T.Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
    assert ckpt.latest_step() == step
    ckpt.restore(step, None)


def _chain(helper, workdir, rng, signals):
  """Interrupts one child len(signals) times at random moments, then resumes to the end."""
  proc, lines = _start(helper, workdir, f"interrupt:{len(signals)}")
  stops = []
  try:
    for i, sig in enumerate(signals):
      assert lines.get(timeout=120) == ["started"], "the child never started training"
      time.sleep(rng.uniform(0.0, MAX_DELAY_S))
      proc.send_signal(sig)
      said = lines.get(timeout=120)
      if i < len(signals) - 1:  # interrupted LAST LATEST: LATEST verified in the child
        assert said[0] == "interrupted" and said[1] == said[2] != "None", (sig.name, said)
      else:
        assert said[0] == "exiting" and said[1] != "None", (sig.name, said)
      stops.append(int(said[1]))
    _finish(proc, workdir, 130)
  finally:
    if proc.poll() is None:
      proc.kill()
  _check_checkpoint(workdir, stops[-1])  # the last completed step, verified
  proc, _ = _start(helper, workdir, "resume")
  _finish(proc, workdir, 0)
  return stops


def _leaves(workdir):
  with np.load(os.path.join(workdir, "final.npz")) as f:
    return [f[k] for k in sorted(f.files, key=lambda k: int(k.split("_")[1]))]


def test_signals_at_random_moments_checkpoint_and_resume_exactly(tmp_path):
  helper = str(tmp_path / "helper.py")
  with open(helper, "w") as f:
    f.write(HELPER % {"steps": STEPS, "checkpoint_every": CHECKPOINT_EVERY})
  rng = random.Random(0)
  kinds = [signal.SIGINT, signal.SIGTERM]
  with futures.ThreadPoolExecutor(CHAINS + 1) as pool:  # children mostly sleep in batch_fn
    reference = pool.submit(lambda: _finish(_start(helper, str(tmp_path / "ref"),
                                                   "reference")[0], str(tmp_path / "ref"), 0))
    chains = [pool.submit(_chain, helper, str(tmp_path / f"run{c}"), random.Random(rng.random()),
                          [kinds[(c * SIGNALS_PER_CHAIN + i) % 2]
                           for i in range(SIGNALS_PER_CHAIN)])
              for c in range(CHAINS)]
    reference.result()
    stops = [step for chain in chains for step in chain.result()]
  assert len(stops) >= 20
  # Most stops fall between checkpoints, where the interrupt itself must save the step.
  assert sum(step % CHECKPOINT_EVERY != 0 for step in stops) >= 5, stops
  ref_rows = T.read_metrics(str(tmp_path / "ref" / "metrics.jsonl"))
  for c in range(CHAINS):
    workdir = tmp_path / f"run{c}"
    for a, b in zip(_leaves(str(tmp_path / "ref")), _leaves(str(workdir)), strict=True):
      assert np.array_equal(a, b)
    rows = T.read_metrics(str(workdir / "metrics.jsonl"))
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))  # each step exactly once
    assert [r["loss"] for r in rows] == [r["loss"] for r in ref_rows]


def _signal_self_during(step_to_signal, sig):
  """A Checkpointer.save that sends `sig` to this process as it starts writing that step."""
  original = T.Checkpointer.save
  saves = []

  def save(self, step, *args, **kwargs):
    saves.append(step)
    if step == step_to_signal:
      os.kill(os.getpid(), sig)  # handled (a flag is set) before Orbax starts
    return original(self, step, *args, **kwargs)

  return save, saves


@pytest.mark.parametrize("first_at, second_at_save, stopped_at", [
    (None, 10, 10),  # one signal while a regular checkpoint is written
    (12, 12, 12),  # a second one while the interrupt's own checkpoint is written
])
def test_signals_while_saving_are_absorbed(tmp_path, monkeypatch, first_at, second_at_save,
                                           stopped_at):
  save, saves = _signal_self_during(second_at_save, signal.SIGTERM)
  monkeypatch.setattr(T.Checkpointer, "save", save)
  hook = lambda done, state, metrics: done == first_at and os.kill(os.getpid(), signal.SIGINT)
  before = signal.signal(signal.SIGTERM, signal.default_int_handler)  # as the launcher does
  # What SIGINT had (SIG_IGN when the test process was started in the background).
  sigint_before = signal.getsignal(signal.SIGINT)
  try:
    with pytest.raises(KeyboardInterrupt):
      run(tmp_path, train_config(), hooks=[hook])
    assert signal.getsignal(signal.SIGTERM) is signal.default_int_handler  # handed back
    assert signal.getsignal(signal.SIGINT) is sigint_before
  finally:
    signal.signal(signal.SIGTERM, before)
  assert saves == [s for s in (5, 10) if s <= stopped_at] + [12] * (stopped_at == 12)
  monkeypatch.undo()
  _check_checkpoint(str(tmp_path), stopped_at)
  rows = T.read_metrics(str(tmp_path / "metrics.jsonl"))
  assert [r["step"] for r in rows] == list(range(1, stopped_at + 1))
