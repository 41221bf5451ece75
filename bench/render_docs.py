"""Renders the result tables of README.md and docs/ from their result files.

  python bench/render_docs.py            rewrites every rendered block in place
  python bench/render_docs.py --check    exit status 1 (and the blocks named) where a
                                         committed table differs from its result file

A rendered block sits between `<!-- rendered:<name> -->` and `<!-- rendered:end -->`; <name>
is a key of RENDERERS, each a function of the result files in bench/results/ only, or
`<key of PARAMETERIZED>.<argument>` (e.g. `run_summary_cpu2.rpg_convnext`).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_tables  # noqa: E402  (bench/run_tables.py)
import tables  # noqa: E402  (bench/tables.py)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = tables.RESULTS
BLOCK = re.compile(r"(<!-- rendered:(?P<name>[\w.-]+) -->\n)(?P<body>.*?)(<!-- rendered:end -->)",
                   re.S)


def _leaderboard_table(folder: str) -> str:
  """The first table of a leaderboard.md the leaderboard command wrote."""
  with open(os.path.join(RESULTS, folder, "leaderboard.md")) as f:
    return next(part for part in f.read().split("\n\n") if part.startswith("| method |"))


def _suite_time(name: str) -> str:
  rows = ["| commit | CI from a fresh clone (install + tests) | tests | exit status |",
          "|---|---|---|---|"]
  for r in tables.jsonl(name):
    rows.append(f"| {r['commit']} | {tables.minutes(r['ci_seconds'])} | {r['summary']} | "
                f"{r['exit_status']} |")
  return "\n".join(rows)


def _test_cpu(name: str, top: int = 12) -> str:
  """The last suite run of `name` (bench/pytest_cpu.py): its total CPU seconds and the `top`
  tests that took the most (own process + subprocesses)."""
  rows = tables.jsonl(name)
  commit = rows[-1]["commit"]
  rows = [r for r in rows if r["commit"] == commit]
  cpu = lambda r: r["self_cpu_s"] + r["children_cpu_s"]
  total = sum(cpu(r) for r in rows)
  out = [f"Commit {commit}: {len(rows)} tests, {total:,.0f} CPU-seconds in all.", "",
         "| test | CPU s (own + subprocesses) | share | wall s |", "|---|---|---|---|"]
  for r in sorted(rows, key=cpu, reverse=True)[:top]:
    out.append(f"| `{r['test']}` | {cpu(r):.0f} ({r['self_cpu_s']:.0f} + "
               f"{r['children_cpu_s']:.0f}) | {cpu(r) / total:.1%} | {r['wall_s']:.0f} |")
  return "\n".join(out)


def _ddim(name: str) -> str:
  rows = ["| batch × dim, hidden | jitted `lax.scan` | Python loop of jitted steps | speed-up |",
          "|---|---|---|---|"]
  for r in tables.jsonl(name):
    rows.append(f"| {r['batch']} × {r['dim']}, {r['hidden']} | {r['scan_ms']:g} ms | "
                f"{r['python_loop_ms']:g} ms | {r['speedup']:.2f}× |")
  return "\n".join(rows)


def _main_command(name: str, config: str) -> str:
  """The last run of `config` at its default (empty workdir, no extra flags) that kept its
  printed lines: the lines, then its time and peak memory."""
  rows = [r for r in tables.jsonl(name) if r["config"] == config and not r.get("preset")
          and not r["extra"] and not r["zoo_copied_from"] and r.get("last_lines")]
  r = rows[-1]
  return "\n".join(["```text", "...", *r["last_lines"], "```", "",
                    f"Measured from an empty workdir on the 2-core CPU at {r['commit']}: "
                    f"{tables.minutes(r['seconds'])} in all (collect {tables.minutes(r['stages_s']['collect'])}, "
                    f"train {tables.minutes(r['stages_s']['train'])}, sample "
                    f"{tables.minutes(r['stages_s']['sample'])}, eval {tables.minutes(r['stages_s']['eval'])}), "
                    f"peak resident memory {r['peak_rss_gb']:.2f} GB, exit status "
                    f"{r['returncode']} (`python bench/peak_memory.py --configs "
                    f"{config}`)."])


def _notebooks(name: str) -> str:
  latest = {}
  for r in tables.jsonl(name):
    latest[(r["notebook"], r["size"])] = r
  rows = ["| notebook | size | wall time, kernel start to last cell | commit | executed copy |",
          "|---|---|---|---|---|"]
  for (notebook, size), r in sorted(latest.items()):
    rows.append(f"| `{notebook}` | {size} | {tables.minutes(r['seconds'])} | {r['commit']} | "
                f"[{notebook}](notebooks/{notebook}) |")
  return "\n".join(rows)


def _wheel_install(name: str) -> str:
  r = tables.jsonl(name)[-1]
  steps = ", ".join(f"{step} {v['seconds']} s" + ("" if v["exit_status"] == 0 else
                                                   f" (exit status {v['exit_status']})")
                    for step, v in r["steps"].items())
  verdict = "every step passed" if r["ok"] else "**a step failed**"
  return (f"At {r['commit']} on the 2-core CPU ({r['python']}): {verdict}; {steps}; "
          f"`paramgen list` listed {r['configs_listed']} configs.")


# README's methods table: what each method is (typed once here), and its headline figures
# from the CPU leaderboard's JSON (the cells of its configs; a config it did not run says so).
METHODS = [
    ("RPG", "[Wang et al. 2025](https://arxiv.org/abs/2501.11587)",
     ("rpg_convnext", "rpg_unseen_binary"),
     "whole classifiers, by recurrent diffusion over parameter tokens", "rpg"),
    ("p-diff / COND P-DIFF", "[Wang et al. 2024](https://arxiv.org/abs/2402.13144), "
     "[Jin et al. 2024](https://arxiv.org/abs/2408.01415)", ("pdiff_digits", "cond_pdiff_lora"),
     "MLPs; text-conditioned LoRA adapters", "pdiff"),
    ("LoRAGen", "[Huang et al. 2026](https://openreview.net/forum?id=mrafO7aTYj)",
     ("loragen_lora",), "LoRA adapters from a task's description", "loragen"),
    ("D2NWG", "[Soro et al. 2025](https://arxiv.org/abs/2402.18153)", ("d2nwg_digits",),
     "classifier heads from a 5-shot support set", "d2nwg"),
    ("data-conditioned mapping", "*Towards Personalized Parameter Generation via "
     "Data-Conditioned Mapping* (under review)", ("mapping_unseen_binary",),
     "classifiers for unseen tasks, one forward pass each", "mapping"),
]


def _methods(folder: str) -> str:
  with open(os.path.join(RESULTS, folder, "leaderboard.json")) as f:
    cells = {c["name"]: c for c in json.load(f)["cells"]}

  def headline(config):
    cell = cells.get(config)
    if cell is None:
      return f"`{config}`: not on the leaderboard yet"
    parts = [f"{split} {cell[split]['ratio']:.3f}" for split in ("seen", "unseen") if cell[split]]
    return f"`{config}`: " + ", ".join(parts)

  rows = ["| method | paper | configs | what it generates here | generated ÷ original "
          "(CPU leaderboard) | notebook (executed copy) | details |", "|---|---|---|---|---|---|---|"]
  for name, paper, configs, what, short in METHODS:
    rows.append(f"| {name} | {paper} | {', '.join(f'`{c}`' for c in configs)} | {what} | "
                f"{'<br>'.join(headline(c) for c in configs)} | [{short}](notebooks/{short}.ipynb) "
                f"([run](docs/notebooks/{short}.ipynb)) | [docs/methods/{short}.md]"
                f"(docs/methods/{short}.md) |")
  return "\n".join(rows)


# LoRAGen's ablations: what each preset changes (configs/loragen_lora.py), in table order.
# The rows ran when the official losses were the default: their `default` is today's
# `official_losses`, their `rec_only` today's default.
LORAGEN_ABLATIONS = {
    "default": "**official losses** (direction + spectral; MoE E = 4 top-1, per-module pools, "
               "structural embedding; the default when these rows ran)",
    "no_moe": "official losses, no MoE decoder (one shared MLP expert, still per-module heads)",
    "rec_only": "no adapter-level losses: elementwise MSE on A and B (Table 4, decoder only; "
                "**today's default**)",
    "no_direction": "no direction loss", "no_spectral": "no spectral loss",
    "no_structural": "no structural embedding", "rho80": "ρ 0.80", "rho100": "ρ 1.00",
    "top2": "top-2 routing", "e8": "E = 8 experts", "shared_pool": "one expert pool shared by "
                                                                     "every module",
}


def _ablations(name: str, described: dict) -> str:
  """One row per preset of `described` with a result row (the last one of each), then one
  row naming the presets not run."""
  found = {r["preset"]: r for r in tables.jsonl(name)}
  rows = ["| ablation | preset | seen generated | seen ratio | unseen generated | unseen ratio |",
          "|---|---|---|---|---|---|"]
  for preset, what in described.items():
    if preset in found:
      seen, unseen = found[preset]["seen"], found[preset]["unseen"]
      rows.append(f"| {what} | `{preset}` | {seen['generated']:.2f} | {seen['ratio']:.3f} | "
                  f"{unseen['generated']:.2f} | {unseen['ratio']:.3f} |")
  missing = [p for p in described if p not in found]
  if missing:
    rows.append(f"| {'; '.join(described[p] for p in missing)} | "
                f"{' '.join(f'`{p}`' for p in missing)} | not run | | | |")
  return "\n".join(rows)


# COND P-DIFF's ablations (configs/cond_pdiff_lora.py's presets), in the paper's Table 4 order.
COND_PDIFF_ABLATIONS = {
    "default": "**default**: task norm, text = description + two examples, N = 10",
    "batch_norm": "norm: batch (over the whole zoo)", "no_norm": "norm: none",
    "onehot": "condition: one-hot (cannot describe a new task)",
    "learned": "condition: learnable task vector", "description": "condition: description only",
    "data": "condition: data (frozen base features, mean per task label)",
    "n1": "zoo size N = 1", "n3": "zoo size N = 3",
}


def _cond_pdiff_ablations(name: str) -> str:
  """Rows of the ablation runs; '–' where a run's report did not come back (only its
  printed selected figures did)."""
  found = {r["preset"]: r for r in tables.jsonl(name)}

  def cell(value, digits=2):
    return "–" if value is None else f"{value:.{digits}f}"

  rows = []
  for preset, what in COND_PDIFF_ABLATIONS.items():
    r = found.get(preset)
    if r is None:
      rows.append([what, f"`{preset}`", "not run", "", "", ""])
      continue
    seen, unseen = r["seen"], r["unseen"]
    rows.append([what, f"`{preset}`", cell(seen.get("generated_selected")),
                 cell(seen.get("generated_mean")), cell(unseen.get("generated_selected")),
                 cell(r.get("generated_nn_l2"), 3)])
  return tables.table(["ablation", "preset", "seen selected", "seen mean of 20",
                       "unseen selected", "generated NN L2"], rows)


# The mapping's ablations (configs/mapping_unseen_binary.py's presets), grouped as compared.
MAPPING_ABLATIONS = [
    (("default",), "kernel 5, α 1, 1002 tasks, structure-aware, nothing blocked"),
    (("k1", "k3", "k7", "k9"), "kernel size"),
    (("alpha0", "alpha05", "alpha075", "alpha15"), "loss weight exponent α"),
    (("tasks5", "tasks25", "tasks100", "tasks300"), "seen tasks trained on"),
    (("sequential",), "layers flattened row by row into the same volume"),
    (("block_L", "block_C", "block_R"), "one direction's mixing replaced by linear interpolation"),
    (("block_LC", "block_LR", "block_RC"), "two directions blocked"),
]


def _grouped_ablations(name: str, groups: list) -> str:
  found = {r["preset"]: r for r in tables.jsonl(name)}

  def figures(presets, split):
    runs = [found[p][split] for p in presets if p in found]
    if len(runs) < len(presets):
      return "not run"
    values = " / ".join(f"{r['generated']:.2f}" for r in runs) + "%"
    return values + (f" ({runs[0]['ratio']:.3f})" if len(runs) == 1 else "")

  rows = ["| preset | what changes | unseen generated (ratio) | seen generated (ratio) |",
          "|---|---|---|---|"]
  for presets, what in groups:
    rows.append(f"| {' / '.join(presets)} | {what} | {figures(presets, 'unseen')} | "
                f"{figures(presets, 'seen')} |")
  return "\n".join(rows)


# D2NWG's experiments (bench/preset_sweep.py rows): (preset, extra flags) -> what changes.
D2NWG_EXPERIMENTS = {
    ("default", ""): "**default** (set encoder aligned with latent targets, frozen; VAE; x0; "
                     "200 seen tasks)",
    ("mlp_encoder", ""): "MLP dataset encoder trained jointly with the diffusion (App. C.5; not "
                         "a set function)",
    ("ranked", ""): "20 candidates per task, the predictor's top 5 (App. C.7)",
    ("no_vae", ""): "no VAE: diffusion on the 384-value weight vectors (Fig. 6b)",
    ("tasks100", ""): "generator trained on 100 of the 200 seen tasks (Fig. 6a)",
    ("tasks50", ""): "generator trained on 50 of the 200 seen tasks (Fig. 6a)",
    ("tasks25", ""): "generator trained on 25 seen tasks (Fig. 6a)",
    ("default", "--config.diffusion.prediction=eps"): "ε-prediction, the paper's (the x0 "
                                                      "deviation)",
}


RENDERERS = {
    "mapping_ablations_h200": lambda: _grouped_ablations("mapping_ablations_h200.jsonl",
                                                         MAPPING_ABLATIONS),
    "rpg_unseen_variants_cpu2": run_tables.rpg_unseen_variants,
    "d2nwg_llm_cpu2": run_tables.d2nwg_llm,
    "pdiff_spread_cpu2": run_tables.pdiff_spread,
    "generated_soup_cpu2": run_tables.generated_soup,
    "rpg_ddim_steps_cpu2": run_tables.rpg_ddim_steps,
    "zoo_summaries_cpu2": run_tables.zoo_summaries,
    "zoo_vmap": run_tables.zoo_vmap,
    "cond_pdiff_ablation_h100": lambda: _cond_pdiff_ablations("cond_pdiff_ablation_h100.jsonl"),
    "loragen_ablations_cpu2": lambda: _ablations("loragen_ablations_cpu2.jsonl",
                                                 LORAGEN_ABLATIONS),
    "methods_cpu2": lambda: _methods("leaderboard_cpu2"),
    "wheel_install_cpu2": lambda: _wheel_install("wheel_install_cpu2.jsonl"),
    "main_command_cpu2": lambda: _main_command("peak_memory_cpu2.jsonl", "rpg_convnext"),
    "notebooks_cpu2": lambda: _notebooks("notebooks_cpu2.jsonl"),
    "leaderboard_cpu2": lambda: _leaderboard_table("leaderboard_cpu2"),
    "leaderboard_h200": lambda: _leaderboard_table("leaderboard_h200"),
    "suite_time_cpu2": lambda: _suite_time("suite_time_cpu2.jsonl"),
    "test_cpu_cpu2": lambda: _test_cpu("test_cpu_cpu2.jsonl"),
    "ddim_sampling_cpu2": lambda: _ddim("ddim_sampling_cpu2.jsonl"),
    "ddim_sampling_h100": lambda: _ddim("ddim_sampling_h100.jsonl"),
    "official_rows_cpu2": tables.official_rows,
    "profiles_cpu2": tables.profiles,
    "selective_scan": tables.selective_scan,
    "scaling_cpu2": tables.scaling,
    "token_parallel_cpu2": tables.token_parallel,
    "text_encoder_cpu2": tables.text_encoder,
    "peak_memory_cpu2": tables.peak_memory,
    "rpg_families_cpu2": tables.rpg_families,
    "rpg_generation": tables.rpg_generation,
    "lowrank_losses_cpu2": tables.lowrank_losses,
    "loragen_latency_cpu2": tables.loragen_latency,
    "d2nwg_experiments_cpu2": lambda: tables.d2nwg_experiments(D2NWG_EXPERIMENTS),
    "targets_cpu2": tables.targets,
    "default_runs_cpu2": lambda: tables.default_runs(("rpg_convnext", "cond_pdiff_lora")),
    "mapping_vs_rpg_cpu2": tables.mapping_vs_rpg,
    "precision_steps_cpu2": tables.precision_steps,
    "precision_runs_cpu2": tables.precision_runs,
    "simple_baselines_cpu2": tables.simple_baselines,
    "leaderboard_times_cpu2": tables.leaderboard_times,
    "leaderboard_coverage_cpu2": tables.leaderboard_coverage,
    "d2nwg_bisect_cpu2": tables.d2nwg_bisect,
    "mapping_residual_cpu2": tables.mapping_residual,
    "mapping_seeds_cpu2": tables.mapping_seeds,
}

# Renderers of one argument, named `<key>.<argument>` in a document.
PARAMETERIZED = {"run_summary_cpu2": run_tables.run_summary,
                 "unseen_tries_cpu2": run_tables.unseen_tries}


def renderer(name: str):
  """The function that renders block `name`; KeyError naming it when there is none."""
  if name in RENDERERS:
    return RENDERERS[name]
  key, _, argument = name.partition(".")
  if key in PARAMETERIZED and argument:
    return lambda: PARAMETERIZED[key](argument)
  raise KeyError(f"unknown rendered block {name!r}: add it to RENDERERS or PARAMETERIZED")


def documents() -> list[str]:
  return [os.path.join(REPO, "README.md")] + sorted(
      glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True))


def render(text: str) -> tuple[str, list[str]]:
  """(text with every block rendered, the names of blocks whose body changed)."""
  changed = []

  def one(match):
    name = match.group("name")
    body = renderer(name)().strip() + "\n"
    if body != match.group("body"):
      changed.append(name)
    return match.group(1) + body + match.group(4)

  return BLOCK.sub(one, text), changed


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--check", action="store_true")
  args = parser.parse_args(argv)
  stale = []
  for path in documents():
    with open(path) as f:
      text = f.read()
    new, changed = render(text)
    stale += [f"{os.path.relpath(path, REPO)}: {name}" for name in changed]
    if changed and not args.check:
      with open(path, "w") as f:
        f.write(new)
  if args.check and stale:
    print("tables differ from their result files (run python bench/render_docs.py): "
          + "; ".join(stale), file=sys.stderr)
    return 1
  print(f"{'checked' if args.check else 'rendered'}: {len(stale)} block(s) "
        f"{'stale' if args.check else 'updated'}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
