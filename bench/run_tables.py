"""One default run's summary, rendered from the report the leaderboard kept of it.

`bench/render_docs.py` renders `<!-- rendered:run_summary_cpu2.<entry> -->` with
`run_summary(entry)`: the entry's command, stage times, each split's generated models against
the originals and the best simple baseline, the verdicts, the selection protocol where the
method has one, how close generated models are to the originals and what one model costs.
Every figure is read from bench/results/leaderboard_cpu2/reports/<entry>.json (the report of
the run measured alone on the 2-core CPU).
"""

from __future__ import annotations

import os

import tables


def _split_rows(report: dict, split: str) -> list[list[str]]:
  from paramgen_jax.eval.headline import split_means, verdict_groups, verdict_text
  from paramgen_jax.eval.leaderboard import VERDICT_WORDS, best_simple_baseline

  means = split_means(report, split)
  if not means:
    return []
  rows = [[f"{split} tasks ({means['tasks']}): generated vs originals, mean test accuracy "
           f"(mean ratio)", f"{means['generated']:.2f}% vs {means['original']:.2f}% "
           f"({means['ratio']:.3f})"]]
  best = best_simple_baseline(report, split)
  if best:
    rows.append([f"{split}: best simple baseline (do the generated models beat it?)",
                 f"{best['baseline']} {best['mean']:.2f}% "
                 f"({VERDICT_WORDS.get(best['verdict'], '?')}, "
                 f"{means['generated'] - best['mean']:+.2f} pt)"])
  groups = {s: g for s, g in verdict_groups(report).items() if s == split}
  if groups:
    rows.append([f"{split}: verdicts (one-sided, α 0.05)", verdict_text(groups, sep="; ")
                 .split(": ", 1)[1]])
  return rows


def _selection_rows(report: dict) -> list[list[str]]:
  selection = report.get("selection") or {}
  rows = []
  for split in ("seen", "unseen"):
    found = selection.get(split)
    if found:
      tasks = f"{found['tasks']} task" + ("s" if found["tasks"] > 1 else "")
      rows.append([f"{split}: best-on-{selection['select_on']} generated vs best-on-"
                   f"{selection['select_on']} original ({tasks})",
                   f"{found['generated_selected']:.2f}% vs {found['original_selected']:.2f}%"])
  return rows


def _closeness_rows(report: dict) -> list[list[str]]:
  similarity = report.get("similarity", {})
  generated, original = similarity.get("generated"), similarity.get("original")
  if not (generated and original and "nn_wrong_iou" in generated):
    return []
  return [["nearest-original wrong-prediction IoU: generated vs originals among themselves",
           f"{generated['nn_wrong_iou']['mean']:.3f} vs {original['nn_wrong_iou']['mean']:.3f}"]]


def run_summary(entry: str, folder: str = "leaderboard_cpu2") -> str:
  """The summary table of one leaderboard entry's default run."""
  cell = next(c for c in tables.load(os.path.join(folder, "leaderboard.json"))["cells"]
              if c["name"] == entry)
  report = tables.load(os.path.join(folder, "reports", f"{entry}.json"))
  stages = report.get("timing_s", {})
  rows = [["command", f"`{cell['command']}`"],
          ["wall time, empty workdir (2-core CPU, nothing else running)",
           f"{tables.minutes(sum(stages.values()))}: " + ", ".join(
               f"{stage} {tables.minutes(stages[stage])}"
               for stage in ("collect", "train", "sample", "eval") if stage in stages)]]
  for split in ("seen", "unseen"):
    rows += _split_rows(report, split)
  rows += _selection_rows(report) + _closeness_rows(report)
  inference = report.get("inference") or {}
  if inference:
    rows.append(["one generated model: time (after compiling) / generator parameters",
                 f"{tables.seconds(inference['seconds_per_model'])} / "
                 f"{inference['generator_params']:,}"])
  return tables.table(["what", f"`{entry}` default run"], rows)


# RPG on the unseen binary tasks, every variant on one zoo: (what it is, the preset that runs
# it today, its source): a report kept under bench/results/ (the leaderboard's default run, or
# an earlier default's report with the commit it ran at), a bench/precision_runs.py float32 run
# (commit, report), or a row of `python bench/preset_sweep.py --config
# configs/rpg_unseen_binary.py --zoo <a finished default run> --presets ... --out
# bench/results/rpg_unseen_presets_cpu2.jsonl` (the preset it ran as then, its extra flags,
# its commit).
RPG_UNSEEN_VARIANTS = (
    ("**default**: Mamba-2, every weight coordinate z-scored over the seen models", "default",
     ("report", "leaderboard_cpu2/reports/rpg_unseen_binary.json", "leaderboard run")),
    ("the same (the `mamba2` preset of the Mamba-1 default before), run by the sweep",
     "default", ("sweep", "mamba2", "", "f0ea195")),
    ("Mamba-1 backbone (the default before)", "mamba1",
     ("report", "rpg_unseen_mamba1_report_cpu2.json", "3b8afd3")),
    ("Mamba-1 with RPG's per-layer token statistics (the paper's arrangement)", "layer + mamba1",
     ("precision_run", "7454349", "precision_reports_cpu2/rpg_unseen_binary_float32.json")),
    ("Mamba-1, the tokens encode what the ridge regression from the code misses",
     "ridge + mamba1", ("sweep", "ridge", "", "f0ea195")),
)
RPG_UNSEEN_SWEEP = "rpg_unseen_presets_cpu2.jsonl"


def _rpg_unseen_variant(source: tuple):
  """(unseen means, best simple baseline, stage seconds, commit) of one variant; None when
  its run has no row yet."""
  from paramgen_jax.eval.headline import split_means
  from paramgen_jax.eval.leaderboard import best_simple_baseline

  if source[0] == "report":
    report = tables.load(source[1])
    return (split_means(report, "unseen"), best_simple_baseline(report, "unseen"),
            report["timing_s"], source[2])
  if source[0] == "precision_run":
    row = tables.float32_run("rpg_unseen_binary", source[1])
    return (row["unseen"], best_simple_baseline(tables.load(source[2]), "unseen"),
            row["stage_s"], row["commit"])
  _, preset, extra, commit = source
  r = _sweep_row(RPG_UNSEEN_SWEEP, preset, extra, commit)
  if r is None:
    return None
  return r["unseen"], r["unseen"].get("best simple baseline"), r["stages_s"], r["commit"]


def _sweep_row(name: str, preset: str, extra: str, commit: str | None = None) -> dict | None:
  """The last bench/preset_sweep.py row of results file `name` for `preset` run with the
  launcher flags `extra` (and at `commit`, when given); None when there is none."""
  if not os.path.exists(os.path.join(tables.RESULTS, name)):
    return None
  rows = [r for r in tables.jsonl(name) if r["preset"] == preset
          and " ".join(r["extra"]) == extra and commit in (None, r["commit"])]
  return rows[-1] if rows else None


def rpg_unseen_variants() -> str:
  """RPG's variants on the 20 unseen binary tasks, one zoo, each against the simple
  baselines."""
  from paramgen_jax.eval.leaderboard import VERDICT_WORDS

  rows = []
  for what, preset, source in RPG_UNSEEN_VARIANTS:
    found = _rpg_unseen_variant(source)
    if found is None:
      rows.append([what, preset, "not run", "", "", "", "", ""])
      continue
    means, best, stages, commit = found
    verdict = (f"{VERDICT_WORDS.get(best['verdict'], '?')} ({best['baseline']})" if best else "–")
    rows.append([what, " + ".join(f"`{p}`" for p in preset.split(" + ")),
                 f"{means['generated']:.2f}% ({means['ratio']:.3f})",
                 f"{means['k-nearest soup']:.2f}%", f"{means['ridge regression']:.2f}%",
                 verdict, tables.minutes(stages["train"]), commit])
  return tables.table(["variant", "preset today", "unseen: generated (ratio)", "k-nearest soup",
                       "ridge regression", "beats the best simple baseline?",
                       "train (2-core CPU)", "commit"], rows)


# Tries at a method's unseen-task target, each the default command with one change (the rows
# of one method's sweep file share a zoo): (what was changed, source). source:
# ("leaderboard", entry) for the default run's report; ("report", file in bench/results,
# where it comes from, the preset or flags it is today) for a kept report; or ("sweep", rows
# file, preset, launcher flags[, commit]) for a row of bench/preset_sweep.py.
UNSEEN_TRIES = {
    "loragen": (
        ("the official code's VAE losses: direction + spectral on A, B, no elementwise MSE "
         "(the default before)",
         ("sweep", "loragen_unseen_tries_cpu2.jsonl", "official_losses", "")),
        ("**default**: an elementwise MSE on A, B instead (best in the shorter-budget "
         "ablations)",
         ("sweep", "loragen_unseen_tries_cpu2.jsonl", "default", "")),
    ),
    "d2nwg": (
        ("default (the leaderboard's run)", ("leaderboard", "d2nwg_digits")),
        ("default, on the host of the tries below",
         ("sweep", "d2nwg_unseen_tries_cpu2.jsonl", "default", "")),
        ("3× the alignment and diffusion steps (4500, 6000)",
         ("sweep", "d2nwg_unseen_tries_cpu2.jsonl", "default",
          "--config.train.steps=6000 --config.align_train.steps=4500")),
        ("32 support sets per seen task (8) for the encoder and the diffusion",
         ("sweep", "d2nwg_unseen_tries_cpu2.jsonl", "default", "--config.support.draws=32")),
    ),
    "cond_pdiff": (
        ("16 seen tasks, nearly all about the digits 0-4; an unseen task takes the statistics "
         "of the seen task nearest to its text (the default before; `nearest_stats` today)",
         ("report", "cond_pdiff_nearest_report_cpu2.json", "the leaderboard's run then",
          "`nearest_stats`")),
        ("the same, statistics regressed on the text, the mean's λ by least held-out squared "
         "error (the `ridge_stats` preset then; the zoo collected again, on the slower host)",
         ("sweep", "cond_pdiff_unseen_tries_cpu2.jsonl", "ridge_stats", "")),
        ("**default**: statistics regressed on the text, the mean's λ the one the ridge "
         "baseline picks (held-out validation accuracy)",
         ("leaderboard", "cond_pdiff_lora")),
        ("LoRAGen's zero-shot zoo (64 seen tasks, every digit positive in some; `zeroshot`), "
         "the nearest seen task's statistics",
         ("sweep", "cond_pdiff_unseen_tries_cpu2.jsonl", "zeroshot", "")),
        ("the same, normalized over the whole zoo (no unseen task needs a seen task's "
         "statistics)",
         ("sweep", "cond_pdiff_unseen_tries_cpu2.jsonl", "zeroshot",
          "--config.generator.normalization=batch")),
        ("the zero-shot zoo, statistics regressed on the text, the mean's λ by least "
         "held-out squared error",
         ("sweep", "cond_pdiff_unseen_tries_cpu2.jsonl", "zeroshot",
          "--config.generator.unseen_stats=ridge", "831db0a")),
        ("the zero-shot zoo, statistics regressed on the text, the mean's λ the ridge "
         "baseline's (today's default recipe)",
         ("sweep", "cond_pdiff_unseen_tries_cpu2.jsonl", "zeroshot",
          "--config.generator.unseen_stats=ridge", "c911ca5")),
    ),
}


def _try_result(source: tuple) -> tuple[dict, dict, dict, str] | None:
  """(seen means, unseen means, best unseen simple baseline, where the figures come from) of
  one try; None when it has no result yet."""
  from paramgen_jax.eval.headline import split_means
  from paramgen_jax.eval.leaderboard import best_simple_baseline

  if source[0] in ("leaderboard", "report"):
    path, origin = ((os.path.join("leaderboard_cpu2", "reports", f"{source[1]}.json"),
                     "the leaderboard's run") if source[0] == "leaderboard" else source[1:3])
    report = tables.load(path)
    return (split_means(report, "seen"), split_means(report, "unseen"),
            best_simple_baseline(report, "unseen"), origin)
  r = _sweep_row(*source[1:])
  if r is None:
    return None
  return (r["seen"], r["unseen"], r["unseen"].get("best simple baseline"),
          f"`preset_sweep.py` at {r['commit']}")


def unseen_tries(method: str) -> str:
  """A method's tries at its unseen-task target (UNSEEN_TRIES), each against the simple
  baselines of its own run."""
  from paramgen_jax.eval.leaderboard import VERDICT_WORDS

  rows = []
  for what, source in UNSEEN_TRIES[method]:
    found = _try_result(source)
    change = ("default" if source[0] == "leaderboard" else source[3] if source[0] == "report"
              else f"`{source[2]}` {source[3]}".strip())
    if found is None:
      rows.append([what, change, "not run", "", "", "", ""])
      continue
    seen, unseen, best, origin = found
    verdict = "–"
    if best:
      name = best["baseline"]
      figure = f", {unseen[name]:.2f}%" if name in unseen else ""
      verdict = f"{VERDICT_WORDS.get(best['verdict'], '?')} ({name}{figure})"
    fitted = " / ".join(f"{unseen[n]:.2f}%" if n in unseen else "–"
                        for n in ("k-nearest soup", "ridge regression"))
    rows.append([what, change, f"{seen['ratio']:.3f}",
                 f"{unseen['generated']:.2f}% ({unseen['ratio']:.3f})", fitted, verdict, origin])
  return tables.table(["try", "preset / flags", "seen ratio", "unseen: generated (ratio)",
                       "unseen: k-nearest soup / ridge regression",
                       "beats the best simple baseline?", "run"], rows)


def pdiff_spread() -> str:
  """bench/pdiff_unseen_spread.py's rows: COND P-DIFF's adapters as centre + s · std · z."""
  rows = []
  for r in tables.jsonl("cond_pdiff_spread_cpu2.jsonl"):
    for split in ("seen", "unseen"):
      if split in r:
        found = r[split]
        rows.append([f"`{r['workdir']}` (unseen_stats {r['unseen_stats']}), commit {r['commit']}",
                     f"{split} ({found['tasks']})",
                     *(f"{found['accuracy'][s]:.2f}%" for s in ("0.0", "0.5", "1.0")),
                     f"{found['z_rms']:.2f}"])
  return tables.table(["run", "tasks", "centre alone (s = 0)", "s = 0.5",
                       "generated (s = 1)", "RMS of z"], rows)


def generated_soup() -> str:
  """bench/generated_soup.py's rows: a task's generated models averaged into one."""
  rows = []
  for r in tables.jsonl("generated_soup_cpu2.jsonl"):
    for split in ("seen", "unseen"):
      if split not in r:
        continue
      f = r[split]
      averaged = ", ".join(f"{k}: {f['averaged'][k]:.2f}% ({f['averaged_ratio'][k]:.3f})"
                           for k in f["averaged"])
      baseline = (f"{f['best simple baseline']} {f['baseline']:.2f}%"
                  if "baseline" in f else "–")
      rows.append([f"{r['config_method']}, run `{r['workdir']}` at {r['commit']}",
                   f"{split} ({f['tasks']})",
                   f"{f['generated']:.2f}% ({f['generated_ratio']:.3f})", averaged,
                   f"{f['original']:.2f}%", baseline])
  return tables.table(["run", "tasks", "one generated model, mean (ratio)",
                       "average of the first k (ratio)", "originals",
                       "best simple baseline"], rows)


def rpg_ddim_steps() -> str:
  """The main command's trained generator sampled with DDIM's default and fewer steps."""
  rows = []
  for r in tables.jsonl("rpg_ddim_steps_cpu2.jsonl"):
    flags = " ".join(r["extra"])
    steps = flags.split("=")[-1] if "sample.steps" in flags else "60 (the default then)"
    rows.append([steps, f"{r['seen']['generated']:.2f}% / {r['seen']['original']:.2f}% "
                        f"({r['seen']['ratio']:.4f})",
                 tables.minutes(r["stages_s"]["sample"]), r["commit"]])
  return tables.table(["DDIM steps", "generated / originals (ratio)", "sample stage",
                       "commit"], rows)


def d2nwg_llm() -> str:
  """bench/d2nwg_llm.py's result: Algorithm 1 on all-MiniLM-L6-v2, paraphrase retrieval."""
  found = tables.load("d2nwg_llm.json")
  errors = found["candidate_relative_error"].values()
  pools = {"validation": "MRR, validation pool (templates 2 → 3, 200 tasks)",
           "test": "MRR, test pool (200 other tasks, same templates)",
           "test, templates 0 -> 4": "**MRR, other phrasings (templates 0 → 4, same test tasks)**"}
  rows = [[f"selected: top 25% by SNR ({len(found['selected'])} of {len(found['snr'])} "
           "matrices)", ", ".join(f"{m} ({found['snr'][m]:.3f})" for m in found["selected"])],
          ["a sampled matrix's distance from the original, in the original's norms",
           f"{min(errors):.2f}–{max(errors):.2f} (an independent random matrix with the same "
           "mean and std: √2 ≈ 1.41)"],
          ["matrices replaced by Algorithm 1", ", ".join(found["accepted"])]]
  rows += [[what + ": base → after Algorithm 1",
            f"{found['mrr'][pool]['base']:.3f} → {found['mrr'][pool]['improved']:.3f}"]
           for pool, what in pools.items()]
  rows.append(["run time (2-core CPU, beside other jobs: not a speed figure)",
               tables.minutes(found["seconds"])])
  return tables.table(["what", f"`{found['command'].strip()}`"], rows)


def zoo_summaries(folder: str = "leaderboard_cpu2") -> str:
  """Each leaderboard entry's zoo: collection time in that run (a zoo copied from an earlier
  entry says so) and the originals' mean test accuracy per split."""
  from paramgen_jax.eval.headline import split_means

  rows = []
  for cell in tables.load(os.path.join(folder, "leaderboard.json"))["cells"]:
    report = tables.load(os.path.join(folder, "reports", f"{cell['name']}.json"))
    collect = report.get("timing_s", {}).get("collect", 0.0)
    originals = []
    for split in ("seen", "unseen"):
      means = split_means(report, split)
      if means:
        tasks = f"{means['tasks']} task" + ("s" if means["tasks"] > 1 else "")
        originals.append(f"{split} {means['original']:.2f}% ({tasks})")
    rows.append([cell["zoo"], f"`{cell['name']}`",
                 tables.minutes(collect) if collect >= 5 else "copied from an earlier entry",
                 "; ".join(originals)])
  return tables.table(["zoo", "collected by the run of", "collection (2-core CPU, alone)",
                       "originals: mean test accuracy"], rows)


def zoo_vmap() -> str:
  """bench/zoo_vmap.py's rows: the binary zoo's collection vmapped over every task against a
  per-task Python loop of the same compiled step."""
  rows = [[r["device"], r["tasks"], f"{r['vmap_all_tasks_s']:g} s",
           f"{r['loop_all_tasks_extrapolated_s']:g} s ({r['loop_tasks_timed']} tasks timed)",
           f"{r['speedup']:g}×"]
          for name in ("zoo_vmap_cpu2.jsonl", "zoo_vmap_h100.jsonl")
          for r in tables.latest(tables.jsonl(name), "device")]
  return tables.table(["device", "tasks", "vmap over all tasks", "per-task loop, extrapolated",
                       "speed-up (target ≥ 10×)"], rows)
