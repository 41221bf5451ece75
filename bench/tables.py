"""The benchmark tables of docs/, each a function of result files in bench/results/ only.

`bench/render_docs.py` writes them between `<!-- rendered:<name> -->` markers; `TABLES` maps
each name to its function. Where a file holds several rows for the same key, the last one
(the newest run) is shown.
"""

from __future__ import annotations

import json
import os

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def jsonl(name: str) -> list[dict]:
  with open(os.path.join(RESULTS, name)) as f:
    return [json.loads(line) for line in f if line.strip()]


def load(name: str):
  with open(os.path.join(RESULTS, name)) as f:
    return json.load(f)


def latest(rows: list[dict], *keys: str) -> list[dict]:
  """The last row for each value of `keys`, in the order each key first appeared."""
  found = {}
  for r in rows:
    found[tuple(r.get(k) for k in keys)] = r
  return list(found.values())


def table(header: list[str], rows: list[list]) -> str:
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
  return "\n".join(lines)


def mib(num_bytes: float) -> str:
  return (f"{num_bytes / 2**30:.2f} GiB" if num_bytes >= 2**30 else
          f"{num_bytes / 2**20:.1f} MiB")


def seconds(s: float) -> str:
  """3 significant figures, in ms under a tenth of a second."""
  return f"{s * 1e3:.3g} ms" if s < 0.1 else f"{s:.3g} s"


def minutes(s: float) -> str:
  m, rest = divmod(round(s), 60)
  return f"{m} min {rest} s" if m else f"{rest} s"


def selective_scan() -> str:
  cpu = {r["length"]: r for r in latest(jsonl("selective_scan_cpu2.jsonl"), "length")}
  gpu = {r["length"]: r for r in latest(jsonl("selective_scan_h100.jsonl"), "length")}

  def cell(r, mode):
    return f"{r[mode]['fwd_ms']:.3g} / {r[mode]['grad_ms']:.3g} ms" if r else "not run"

  rows = [[length, cell(cpu[length], "scan"), cell(cpu[length], "associative"),
           cell(gpu.get(length), "scan"), cell(gpu.get(length), "associative")]
          for length in sorted(cpu)]
  return table(["length", "CPU scan", "CPU associative", "H100 scan", "H100 associative"],
               rows)


SCALING_NAMES = {"rpg": "RPG", "pdiff": "p-diff", "d2nwg": "D2NWG", "mapping": "mapping",
                 "loragen": "LoRAGen"}


def scaling() -> str:
  runs = [r for r in latest(jsonl("scaling_cpu2.jsonl"), "method", "num_params")
          if r["devices"] == 1 and r["method"] in SCALING_NAMES]
  rows = []
  for method in SCALING_NAMES:
    for r in sorted((r for r in runs if r["method"] == method), key=lambda r: r["num_params"]):
      size = f"{r['num_params']:,}"
      if "tokens" in r:
        size += f" ({r['tokens']} tokens)"
      elif "locations" in r:
        size += f" ({r['locations']} locations)"
      rows.append([SCALING_NAMES[method], size, f"{r['generator_params']:,}",
                   seconds(r["seconds"]), mib(r["peak_bytes"]), f"{r['compile_s']:.3g} s"])
  return table(["method", "parameters", "generator parameters", "one model",
                "peak memory (XLA plan)", "compile"], rows)


def token_parallel() -> str:
  one = {r["num_params"]: r for r in jsonl("scaling_cpu2.jsonl")
         if r["method"] == "rpg" and r["devices"] == 1}
  rows = []
  for r in latest(jsonl("scaling_cpu2.jsonl"), "method", "num_params"):
    if r["method"] != "rpg_tokens_x8":
      continue
    single = one.get(r["num_params"])
    rows.append([f"{r['num_params']:,} ({r['tokens']})", seconds(r["seconds"]),
                 seconds(r["one_device_seconds"]), f"{r['max_abs_diff_vs_1_device']:.1e}",
                 f"{mib(r['peak_bytes'])} / {mib(single['peak_bytes']) if single else '–'}"])
  return table(["parameters (tokens)", "8 devices", "1 device", "largest difference",
                "peak memory per device (XLA plan): 8 / 1"], rows)


def text_encoder() -> str:
  r = jsonl("text_encoder_cpu2.jsonl")[-1]
  return (f"Throughput of `{r['model']}` on the 2-core CPU, {r['words']}-word sentences in "
          f"batches of {r['batch']}, tokenization included: **{r['sentences_per_s']:g} "
          f"sentences/s** ({r['sentences']} sentences in {r['seconds']:.2f} s; "
          f"`python bench/text_encoder.py`).")


def official_rows() -> str:
  """Our step times (official_rows_cpu2.jsonl) beside the official code's, which were measured
  once with the official modules and are kept in official_pytorch_cpu2.json."""
  reference = load("official_pytorch_cpu2.json")
  ours = {}
  for r in jsonl("official_rows_cpu2.jsonl"):
    ours[(r["bench"], tuple(r.get("overrides", [])))] = r
  rows = []
  for row in reference["rows"]:
    r = ours[(row["bench"], tuple(row.get("overrides", [])))]
    now = r[row["field"]] * row.get("scale", 1.0)
    ratio = row["official"] / now
    target = row["official"] / 1.5
    met = "**yes**" if now <= target else f"no (≤ {target:.3g} {row['unit']})"
    rows.append([row["what"], f"{row['before']} {row['unit']}" if row.get("before") else "—",
                 f"{now:.4g} {row['unit']}", f"{row['official']} {row['unit']}"
                 + (f" ({row['official_note']})" if row.get("official_note") else ""),
                 f"{ratio:.2f}×", met, f"`{row['command']}`"])
  return table(["step (shapes of `configs/rpg_convnext.py`, `configs/cond_pdiff_lora.py`)",
                "ours before", "ours now", "official", "official / ours",
                "target met (≥ 1.5×)", "command"], rows)


PROFILED = {"rpg_step_mamba2": "RPG, Mamba-2", "rpg_step_mamba": "RPG, Mamba-1",
            "rpg_step_lstm": "RPG, LSTM", "rpg_step_transformer": "RPG, transformer",
            "rpg_denoiser_step": "RPG denoiser alone", "pdiff_autoencoder_step":
            "p-diff autoencoder", "pdiff_latent_step": "latent diffusion"}


def profiles() -> str:
  rows = []
  for r in jsonl("official_rows_cpu2.jsonl"):
    if r["bench"] not in PROFILED or r.get("overrides") or "profile" not in r:
      continue
    parts = ", ".join(f"{p['scope']} {p['ms']:.3g} ms" for p in r["profile"]["by_part"][:4])
    rows.append([PROFILED[r["bench"]], f"{r['profile']['summed_op_ms']:.3g} ms "
                 f"(wall {r['median_ms']:.3g} ms)", parts])
  return table(["step", "summed op time per step", "largest parts"], rows)


def peak_memory() -> str:
  """The last row of every config (and preset) that exited 0, in the order first run."""
  rows = []
  for r in latest([r for r in jsonl("peak_memory_cpu2.jsonl") if r["returncode"] == 0],
                  "config", "preset"):
    how = "zoo copied" if r["zoo_copied_from"] else "empty workdir"
    if r["extra"]:
      how += ", " + " ".join(f"`{e}`" for e in r["extra"])
    name = r["config"] + (f":{r['preset']}" if r.get("preset") else "")
    rows.append([f"`{name}`", f"{r['peak_rss_gb']:.2f} GB", minutes(r["seconds"]), how,
                 r.get("commit", "before commits were recorded")])
  return table(["config", "peak resident memory", "wall time of that run", "how it was run",
                "commit"], rows)


FAMILIES = {"mlp": "MLP 64-128-10", "cnn": "CNN", "resnet_mini": "ResNet-mini",
            "vit_tiny": "ViT-tiny"}


def rpg_families() -> str:
  rows = []
  for r in latest(jsonl("rpg_families_cpu2.jsonl"), "config"):
    t = r["timing_s"]
    rows.append([FAMILIES.get(r["target"], r["target"]), f"`{r['config']}`",
                 f"{r['original_mean']:.2f}% ({r['original_best']:.2f}%)",
                 f"{r['generated_mean']:.2f}% / {r['generated_min']:.2f}% / "
                 f"{r['generated_best']:.2f}% ({r['generated_mean'] - r['original_mean']:+.2f})",
                 "yes" if r["within_1_point"] else "no", r["steps"],
                 f"{minutes(r['wall_s'])} ({', '.join(minutes(t[s]) for s in ('collect', 'train', 'sample', 'eval'))})",
                 r["machine"]])
  return table(["family", "config", "originals: mean (best)", "generated: mean / worst / best",
                "within 1 point of the originals' mean", "train steps",
                "whole run (collect, train, generate, evaluate)", "machine"], rows)


def rpg_generation() -> str:
  rows = []
  for machine, name in (("CPU", "rpg_generation_cpu2.jsonl"), ("H100", "rpg_generation_h100.jsonl")):
    for r in latest([r for r in jsonl(name) if "target" not in r], "num_params", "mode"):
      rows.append([machine, f"{r['num_params']:,} ({r['tokens']})", r["mode"],
                   seconds(r["generate_s"]), f"{r['per_ddim_step_ms']:.3g} ms",
                   mib(r["peak_bytes"])])
  return table(["machine", "parameters (tokens)", "mode", "one model", "per DDIM step",
                "peak memory"], rows)


def lowrank_losses() -> str:
  rows = [[r["d"], r["factored_ms"], r["explicit_ms"], f"{r['speedup']:.1f}×",
           f"{r['factored_temp_bytes'] / 2**20:.2f} / {r['explicit_temp_bytes'] / 2**20:.1f} MiB"]
          for r in latest(jsonl("lowrank_losses_cpu2.jsonl"), "d")]
  return table(["d", "factored (ms)", "forming ΔW (ms)", "speed-up",
                "XLA temp, factored / forming"], rows)


def loragen_latency() -> str:
  rows = [[r["locations"], r["rank"], r["encode_ms"], r["diffuse_ms"], r["decode_ms"],
           r["total_ms"]]
          for r in latest(jsonl("loragen_latency_cpu2.jsonl"), "locations", "rank")]
  return table(["locations (LoRA + head)", "rank", "encode (ms)", "diffuse (ms)", "decode (ms)",
                "generation = diffuse + decode (ms)"], rows)


def d2nwg_experiments(described: dict) -> str:
  """One row per (preset, extra flags) described, from `bench/preset_sweep.py`'s rows."""
  found = {(r["preset"], " ".join(r["extra"])): r for r in jsonl("d2nwg_experiments_cpu2.jsonl")}
  rows = []
  for (preset, extra), what in described.items():
    r = found.get((preset, extra))
    if r is None:
      rows.append([what, f"`{preset}` {extra}".strip(), "no result row", "", "", "", "", ""])
      continue
    seen, unseen = r["seen"], r["unseen"]
    rows.append([what, f"`{preset}`" + (f" `{extra}`" if extra else ""),
                 f"{seen['generated']:.2f}", f"{seen['ratio']:.3f}", f"{unseen['generated']:.2f}",
                 f"{unseen['ratio']:.3f}", unseen.get("D2NWG, 1-shot support", "–"),
                 f"{unseen['nearest seen task']:.2f} / {unseen['support fine-tuned']:.2f}"])
  return table(["experiment", "preset", "seen generated", "seen ratio", "unseen 5-shot generated",
                "unseen ratio", "unseen 1-shot", "nearest seen / fine-tuned"], rows)


def targets() -> str:
  rows = [[r["target"], f"{r['params']:,}", f"{r['test_acc']:.2f}%",
           f"{r['epochs']} epochs, lr {r['lr']:g}, ±{r['shift']} px shifts", f"{r['train_s']} s",
           f"`python bench/targets.py --only {r['target']}`"]
          for r in latest(jsonl("targets_cpu2.jsonl"), "target")]
  return table(["target", "parameters", "test accuracy", "recipe (AdamW, batch 64, cosine to "
                "1e-5)", "train time (CPU)", "command"], rows)


def mapping_vs_rpg(result: dict | None = None) -> str:
  """Per unseen task and per generator, from `bench/mapping_vs_rpg.py`'s result."""
  result = result or load("mapping_vs_rpg_cpu2.json")
  tasks = result["per_task"]
  mean = lambda k: sum(r[k] for r in tasks) / len(tasks)
  ratio = lambda k: sum(r[k] / r["original"] for r in tasks) / len(tasks)
  lines = [table(["unseen task (code)", "original", "RPG (mean of 10)", "mapping"],
                 [[r["task"].removeprefix("binary_"), f"{r['original']:.2f}", f"{r['rpg']:.2f}",
                   f"{r['mapping']:.2f}"] for r in tasks]
                 + [["**mean** (generated / original)", f"{mean('original'):.2f}",
                     f"{mean('rpg'):.2f} ({ratio('rpg'):.3f})",
                     f"{mean('mapping'):.2f} ({ratio('mapping'):.3f})"]]), ""]
  g = result["generators"]
  rows = [[label, f"{g['rpg'][key]:,}", f"{g['mapping'][key]:,}",
           f"{g['rpg'][key] / g['mapping'][key]:.1f}×"]
          for key, label in (("train_steps", "training steps"), ("train_s", "training seconds"),
                             ("parameters", "generator parameters"))]
  sampled, mapped = result["rows"][1], result["rows"][0]
  rows.append(["one model: seconds", f"{sampled['seconds']:.3f}", f"{mapped['seconds']:.4f}",
               f"{result['speedup']:.0f}×"])
  rows.append(["one model: memory (MB, XLA plan)", f"{sampled['memory_bytes'] / 1e6:.1f}",
               f"{mapped['memory_bytes'] / 1e6:.2f}", f"{result['memory_ratio']:.1f}×"])
  lines.append(table(["", "RPG", "mapping", "ratio"], rows))
  return "\n".join(lines)


def default_runs(configs: tuple[str, ...]) -> str:
  """Every run of `configs` at its default from an empty workdir, oldest first."""
  rows = []
  for config in configs:
    for r in jsonl("peak_memory_cpu2.jsonl"):
      if (r["config"] != config or r.get("preset") or r["extra"] or r["zoo_copied_from"]
          or r["returncode"] != 0):
        continue
      stages = ", ".join(f"{s} {minutes(r['stages_s'][s])}"
                         for s in ("collect", "train", "sample", "eval"))
      rows.append([f"`{config}`", r.get("commit", "before commits were recorded"),
                   minutes(r["seconds"]), stages, f"{r['peak_rss_gb']:.2f} GB"])
  return table(["config", "commit", "wall time", "stages", "peak resident memory"], rows)


PRECISION_STEPS = {("rpg_step_mamba2", "per_layer"): "RPG train step (Mamba-2, the default)",
                   ("rpg_step_mamba", "per_layer"): "RPG train step (Mamba-1)",
                   ("rpg_step_lstm", "per_layer"): "RPG train step (LSTM)",
                   ("rpg_step_transformer", "per_layer"): "RPG train step (transformer)",
                   ("rpg_denoiser_step", "per_layer"): "RPG 1-D conv denoiser alone",
                   ("rpg_denoiser_step", "shared"): "RPG denoiser, shared conditioning",
                   ("pdiff_autoencoder_step", None): "p-diff autoencoder step",
                   ("pdiff_latent_step", None): "latent diffusion step (text condition)",
                   ("rpg_generation", "partial"): "RPG generation of one ConvNeXt-mini model"}


def _precision_key(r: dict) -> tuple:
  """(bench, variant, compute dtype) of a row of bench/precision_steps.sh."""
  if r["bench"] == "rpg_generation":
    return r["bench"], r["mode"], r.get("compute_dtype", "float32")
  dtype = next(o.split("=")[1] for o in r["overrides"] if "compute_dtype" in o)
  return r["bench"], r.get("denoiser"), dtype


def precision_steps() -> str:
  """Step (and generation) times in float32 and with bfloat16 compute, from
  bench/precision_steps.sh's rows (the latest of each)."""
  found = {_precision_key(r): r for r in jsonl("precision_steps_cpu2.jsonl")}
  seconds = lambda r: r["generate_s"] * 1000 if "generate_s" in r else r["median_ms"]
  rows = []
  for key, what in PRECISION_STEPS.items():
    f32, bf16 = found.get((*key, "float32")), found.get((*key, "bfloat16"))
    if f32 is None or bf16 is None:
      rows.append([what, "not run", "", ""])
      continue
    rows.append([what, f"{seconds(f32):.4g} ms", f"{seconds(bf16):.4g} ms",
                 f"{seconds(f32) / seconds(bf16):.2f}×"])
  return table(["step (default shapes)", "float32", "bfloat16 compute", "speed-up"], rows)


PRECISION_VARIANTS = {"float32": "float32", "bf16_generation": "bfloat16 generation",
                      "bf16_training": "bfloat16 training and generation"}


def precision_runs() -> str:
  """Default runs' accuracy with bfloat16 compute against float32, from
  bench/precision_runs.py's rows (the latest of each config and variant). Speed is
  precision_steps' (measured alone); these runs' stage times are not published."""
  rows, found = [], latest(jsonl("precision_runs_cpu2.jsonl"), "config", "variant")
  for r in found:
    base = next(b for b in found if b["config"] == r["config"] and b["variant"] == "float32")
    cells = []
    for split in ("seen", "unseen"):
      got, ref = r[split], base[split]
      cells.append("–" if not got else
                   f"{got['generated']:.2f}% ({got['ratio']:.3f})"
                   + ("" if r is base else f", {got['generated'] - ref['generated']:+.2f} pt"))
    rows.append([r["config"], PRECISION_VARIANTS[r["variant"]], *cells, r["commit"]])
  return table(["config", "compute", "seen: generated (ratio), vs float32",
                "unseen: generated (ratio), vs float32", "commit"], rows)


SIMPLE_COLUMNS = ("nearest seen task", "k-nearest soup", "ridge regression",
                  "class-column soup", "init + 10 steps", "init + 100 steps",
                  "generated + 10 steps")


def simple_baselines(folder: str = "leaderboard_cpu2") -> str:
  """Unseen tasks of the leaderboard's entries (their reports, copied beside the table by
  `paramgen leaderboard`): the generated models against the simple baselines of each report,
  with the verdict against the best of them (`eval.leaderboard.best_simple_baseline`) and the
  difference in points."""
  from paramgen_jax.eval.headline import split_means
  from paramgen_jax.eval.leaderboard import VERDICT_WORDS, best_simple_baseline

  order = [c["name"] for c in load(os.path.join(folder, "leaderboard.json"))["cells"]]
  rows = []
  for name in order:
    report = load(os.path.join(folder, "reports", f"{name}.json"))
    means = split_means(report, "unseen")
    if not means:
      continue
    chosen = {n: b.get("chosen", {}) for n, b in report.get("task_baselines", {}).items()}

    def cell(baseline):
      if baseline not in means:
        return "–"
      pick = chosen.get(baseline, {})
      extra = (f" (k = {pick['k']})" if "k" in pick else
               f" (λ = {pick['lambda']:g})" if "lambda" in pick else "")
      return f"{means[baseline]:.2f}%{extra}"

    best = best_simple_baseline(report, "unseen")
    verdict = (f"{VERDICT_WORDS.get(best['verdict'], '?')} ({best['baseline']}, "
               f"{means['generated'] - best['mean']:+.2f} pt)" if best else "–")
    rows.append([name, means["tasks"], f"{means['generated']:.2f}%",
                 f"{means['original']:.2f}%", *(cell(n) for n in SIMPLE_COLUMNS), verdict])
  return table(["entry (default config)", "unseen tasks", "generated", "originals",
                *SIMPLE_COLUMNS, "beats the best simple baseline? (generated − it)"], rows)


def leaderboard_coverage(folder: str = "leaderboard_cpu2") -> str:
  """The leaderboard's grid of methods × zoos with the reason for each empty cell."""
  from paramgen_jax.eval.leaderboard import coverage_gaps, coverage_markdown

  board = load(os.path.join(folder, "leaderboard.json"))
  gaps = coverage_gaps(board["missing"], board["failed"])
  return "\n".join(coverage_markdown(board["cells"], gaps, board["zoos"])).rstrip()


def d2nwg_bisect() -> str:
  """bench/d2nwg_bisect.sh's rows: D2NWG's default at each commit on this machine."""
  rows = [[f"`{r['commit']}`", ", ".join(r["zoo_checksums"]),
           " / ".join(f"{r['last_loss'][s]:.6g}" for s in ("vae", "align", "diffusion")),
           f"{r['seen']['generated']:.2f}% ({r['seen']['ratio']:.4f})",
           f"{r['unseen']['generated']:.2f}% ({r['unseen']['ratio']:.4f})",
           f"{r['unseen_nearest_seen_task']:.2f}%"]
          for r in latest(jsonl("d2nwg_bisect_cpu2.jsonl"), "commit")]
  return table(["commit", "zoo checksum", "last loss: VAE / alignment / diffusion",
                "seen: generated (ratio)", "unseen: generated (ratio)",
                "unseen: nearest seen task"], rows)


# Time budgets of a default run on the 2-core CPU: the main command 10 min, the others 20.
MAIN_COMMAND, MAIN_BUDGET_S, DEFAULT_BUDGET_S = "rpg_convnext", 600, 1200


def leaderboard_times(folder: str = "leaderboard_cpu2") -> str:
  """Each leaderboard entry's stage times (report.json `timing_s`), their sum against the
  entry's budget."""
  rows = []
  for cell in load(os.path.join(folder, "leaderboard.json"))["cells"]:
    stages = load(os.path.join(folder, "reports", f"{cell['name']}.json"))["timing_s"]
    total = sum(stages.values())
    budget = MAIN_BUDGET_S if cell["name"] == MAIN_COMMAND else DEFAULT_BUDGET_S
    verdict = ("within" if total <= budget else f"**over by {minutes(total - budget)}**")
    rows.append([cell["name"], *(minutes(stages.get(k, 0.0)) for k in
                                 ("collect", "train", "sample", "eval")),
                 minutes(total), f"{minutes(budget)}: {verdict}"])
  return table(["entry", "collect", "train", "sample", "eval", "the four stages",
                "budget"], rows)


def mapping_residual() -> str:
  """bench/mapping_residual.py's rows (the latest of each decoder and base): residual
  generation from a simple baseline, against that baseline alone."""
  rows = []
  for r in latest(jsonl("mapping_residual_cpu2.jsonl"), "decoder", "base"):
    pick = r.get("chosen", {})
    base = (f"{r['base']} (k = {pick['k']})" if "k" in pick else
            f"{r['base']} (λ = {pick['lambda']:g})" if "lambda" in pick else r["base"])
    cells = [f"{r[s]['generated']:.2f}% ({r[s]['ratio']:.4f}); base alone {r[s]['baseline']:.2f}%"
             for s in ("unseen", "seen")]
    rows.append([r["decoder"], base, r["train_steps"], *cells])
  return table(["decoder", "residual from", "steps", "unseen (20 tasks): generated (ratio)",
                "seen (first 60 tasks): generated (ratio)"], rows)


# (variant, the precision_runs float32 row's commit for seed 0 (None: the latest), its
# report, the preset_sweep rows of the other seeds)
MAPPING_SEEDS = (
    ("MLP decoder alone (`direct`)", "2fba49b", "mapping_direct_seed0_cpu2.json",
     "mapping_seeds_cpu2.jsonl"),
    ("default: MLP decoder + ridge regression", None,
     "precision_reports_cpu2/mapping_unseen_binary_float32.json",
     "mapping_seeds_ridge_cpu2.jsonl"),
)


def float32_run(config: str, commit: str | None = None) -> dict:
  """The latest float32 row of bench/precision_runs.py for `config` (at `commit` when
  given)."""
  return next(r for r in reversed(jsonl("precision_runs_cpu2.jsonl"))
              if r["config"] == config and r["variant"] == "float32"
              and commit in (None, r["commit"]))


def mapping_seeds() -> str:
  """The mapping at several training seeds on one zoo: seed 0 is bench/precision_runs.py's
  float32 run from an empty workdir (its report kept beside it), the others
  bench/preset_sweep.py's rows (`-- --config.train.seed=N`)."""
  from paramgen_jax.eval.leaderboard import VERDICT_WORDS, best_simple_baseline

  rows = []
  for variant, commit, report, sweep in MAPPING_SEEDS:
    base = float32_run("mapping_unseen_binary", commit)
    runs = [(0, base["unseen"], base["seen"], best_simple_baseline(load(report), "unseen"))]
    for r in (jsonl(sweep) if os.path.exists(os.path.join(RESULTS, sweep)) else []):
      seed = next(int(f.split("=")[1]) for f in r["extra"] if f.startswith("--config.train.seed="))
      runs.append((seed, r["unseen"], r["seen"], r["unseen"].get("best simple baseline")))
    rows += [[variant, seed, f"{u['generated']:.2f}% ({u['ratio']:.4f})",
              f"{u['k-nearest soup']:.2f}%", f"{u['ridge regression']:.2f}%",
              f"{VERDICT_WORDS.get(b['verdict'], '?')} ({b['baseline']})" if b else "–",
              f"{s['generated']:.2f}% ({s['ratio']:.4f})"]
             for seed, u, s, b in sorted(runs, key=lambda run: run[0])]
  return table(["variant", "train.seed", "unseen: generated (ratio)", "k-nearest soup",
                "ridge regression", "beats the best simple baseline?",
                "seen: generated (ratio)"], rows)
