"""Shared by the step benches: median timing of a jitted step and where its time goes.

  seconds = time_rounds(run_once, rounds=7)       # run_once() blocks until done
  rows = op_breakdown(jitted, args, run_once)     # XLA ops grouped by source scope

`op_breakdown` traces a few calls with `jax.profiler`, sums the time of every XLA op
(thunk) over the executor threads, and names each op by the source scope XLA recorded for
it (`metadata op_name` in the compiled HLO: the Flax module path and the jax primitive).
Times of ops running on parallel threads add up, so shares are of summed op time.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import re
import statistics
import sys
import tempfile
import time
from typing import Any, Callable

import jax


_OP_LINE = re.compile(r'^\s*(?:ROOT )?%?([\w.\-]+) = .*?metadata=\{[^}]*op_name="([^"]+)"')
_NOT_OPS = ("ThunkExecutor", "SlinkyThreadPool", "ThreadpoolListener", "end: ", "$",
            "PjitFunction", "CommonPjRt", "TfrtCpu", "Await")


def time_rounds(run_once: Callable[[], Any], *, rounds: int = 7, per_round: int = 5,
                warmup: int = 3) -> dict:
  """Median and spread of the seconds per call over `rounds` rounds of `per_round` calls."""
  for _ in range(warmup):
    run_once()
  times = []
  for _ in range(rounds):
    start = time.perf_counter()
    for _ in range(per_round):
      run_once()
    times.append((time.perf_counter() - start) / per_round)
  return {"median_ms": round(1e3 * statistics.median(times), 2),
          "min_ms": round(1e3 * min(times), 2), "max_ms": round(1e3 * max(times), 2),
          "rounds": rounds, "per_round": per_round}


def time_train_step(loss_fn: Callable, params: Any, batch: Any, train_cfg: Any, *,
                    rounds: int = 7, profile: bool = True) -> tuple[dict, dict | None]:
  """(timing, op breakdown or None) of the library's jitted train step (`make_train_step`:
  loss, gradients, the config's optimizer, donated state, norms every `log_every` steps)."""
  from paramgen_jax.train import TrainState, make_optimizer, make_train_step
  tx, lr = make_optimizer(train_cfg)
  step = jax.jit(make_train_step(loss_fn, tx, learning_rate=lr,
                                 compute_dtype=train_cfg.compute_dtype,
                                 metrics_every=train_cfg.log_every), donate_argnums=(0,))
  holder = {"state": TrainState.create(params, tx)}
  key = jax.random.key(0)

  def run_once():
    holder["state"], metrics = step(holder["state"], batch, key)
    jax.block_until_ready(metrics["loss"])

  timing = time_rounds(run_once, rounds=rounds)
  breakdown = op_breakdown(step, (holder["state"], batch, key), run_once) if profile else None
  return timing, breakdown


def _scope(op_name: str) -> str:
  """'jit(step)/jvp(Model)/denoiser/enc0_conv/conv_general_dilated' -> 'denoiser/enc0_conv'
  plus the primitive; transforms (jvp, transpose, vmap...) are dropped, backward is marked."""
  parts = op_name.split("/")
  backward = any(p.startswith("transpose(") for p in parts)
  kept = [p for p in parts[1:] if "(" not in p and p]
  path = "/".join(kept[:-1][:3]) or "(top)"
  primitive = kept[-1] if kept else parts[-1]
  return f"{path} [{primitive}]" + (" (bwd)" if backward else "")


def _op_sources(hlo: str) -> dict[str, str]:
  """Instruction name -> the op_name XLA recorded for it; a fusion without one takes the
  first op_name among the instructions of the computation it calls."""
  own, calls, first_in = {}, {}, {}
  computation = None
  for line in hlo.splitlines():
    header = re.match(r"^\s*(?:ENTRY )?%?([\w.\-]+) .*\{\s*$", line)
    if header and "=" not in line.split("{")[0]:
      computation = header.group(1)
      continue
    name = re.match(r"^\s*(?:ROOT )?%?([\w.\-]+) = ", line)
    if not name:
      continue
    source = re.search(r'op_name="([^"]+)"', line)
    if source:
      own[name.group(1)] = source.group(1)
      first_in.setdefault(computation, source.group(1))
    called = re.search(r"calls=%?([\w.\-]+)", line)
    if called:
      calls[name.group(1)] = called.group(1)
  for name, callee in calls.items():
    if name not in own and callee in first_in:
      own[name] = first_in[callee]
  return own


def op_breakdown(jitted: Callable, args: tuple, run_once: Callable[[], Any], *,
                 calls: int = 5, top: int = 12) -> dict[str, list[dict]]:
  """Summed op time per call, {'by_part': [...], 'top_ops': [...]}, rows {'scope', 'ms',
  'share'}: by part = the first level of the source scope (a Flax submodule, or the
  optimizer and loss outside any), forward and backward apart; top ops = the `top` scopes
  with their primitive."""
  sources = _op_sources(jitted.lower(*args).compile().as_text())
  run_once()
  with tempfile.TemporaryDirectory() as folder:
    with jax.profiler.trace(folder):
      for _ in range(calls):
        run_once()
    path = glob.glob(os.path.join(folder, "**", "*.xplane.pb"), recursive=True)[0]
    profile = jax.profiler.ProfileData.from_file(path)
  ops: collections.Counter = collections.Counter()
  parts: collections.Counter = collections.Counter()
  for plane in profile.planes:
    for line in plane.lines:
      if line.name != "python":
        for name, ns in _exclusive_times(line.events):
          source = sources.get(name)
          ops[_scope(source) if source else name] += ns
          parts[_part(source)] += ns
  whole = sum(ops.values()) or 1
  table = lambda counter, n: [
      {"scope": scope, "ms": round(ns / calls / 1e6, 2), "share": round(ns / whole, 3)}
      for scope, ns in counter.most_common(n)]
  return {"summed_op_ms": round(whole / calls / 1e6, 2), "by_part": table(parts, 20),
          "top_ops": table(ops, top)}


def _part(op_name: str | None) -> str:
  """The first scope level below the transforms ('denoiser', 'sequence', ...), with
  (bwd) for the backward pass; '(unattributed)' when XLA kept no source."""
  if not op_name:
    return "(unattributed)"
  parts = op_name.split("/")
  backward = any(p.startswith("transpose(") for p in parts)
  kept = [p for p in parts[1:] if "(" not in p and p]
  head = kept[0] if len(kept) > 1 else "(outside modules: loss, optimizer)"
  return head + (" (bwd)" if backward else "")


def _exclusive_times(events) -> list[tuple[str, float]]:
  """(op name, its time minus the ops nested in it) for the ops on one thread: a while
  loop's event spans its body's ops, which are counted on their own."""
  ops = sorted(((e.start_ns, e.end_ns, e.name) for e in events
                if not e.name.startswith(_NOT_OPS)), key=lambda e: (e[0], -e[1]))
  exclusive, stack = [], []  # stack: indices into exclusive of the enclosing ops
  for start, end, name in ops:
    while stack and ops[stack[-1]][1] <= start:
      stack.pop()
    if stack:
      exclusive[stack[-1]][1] -= end - start
    exclusive.append([name, end - start])
    stack.append(len(exclusive) - 1)
  return [(name, ns) for name, ns in exclusive]


def device_name() -> str:
  device = jax.devices()[0]
  return "cpu" if device.platform == "cpu" else device.device_kind


def emit(row: dict, breakdown: dict | None) -> None:
  """One JSON line (the breakdown included), then the breakdown as readable tables."""
  row = dict(row, device=device_name(), jax=jax.__version__)
  if breakdown:
    row["profile"] = breakdown
  print(json.dumps(row), flush=True)
  if breakdown:
    print(f"  summed op time per call: {breakdown['summed_op_ms']} ms (ops on parallel "
          "threads add up)")
    for title in ("by_part", "top_ops"):
      print(f"  {title}:")
      for item in breakdown[title]:
        print(f"    {item['ms']:8.2f} ms  {100 * item['share']:5.1f}%  {item['scope']}")
    sys.stdout.flush()
