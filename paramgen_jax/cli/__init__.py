"""The `paramgen` command: one entry point for runs, configs and the leaderboard.

  paramgen list                               every config, its presets and purpose
  paramgen show rpg_convnext:smoke            the resolved config (overrides allowed)
  paramgen run rpg_convnext[:preset] [--workdir=DIR] [--mode=MODE] [--config.a.b=value]
  paramgen leaderboard [--config=leaderboard:smoke] [--workdir=DIR] [--report-only]
  paramgen <command> --help

`paramgen run` is `python launch/main.py --config=...` of a checkout, with the same flags,
overrides and exit statuses (0 done, 1 a failed run, 2 a wrong config or command, 130
interrupted).
"""

from __future__ import annotations

import sys

from paramgen_jax import __version__

COMMANDS = ("run", "list", "show", "leaderboard")


def _list(argv: list[str]) -> int:
  from paramgen_jax.cli.catalog import catalog

  if argv:
    print("usage: paramgen list (takes no arguments)", file=sys.stderr)
    return 2
  entries = catalog()
  width = max(len(e.name) for e in entries)
  for entry in entries:
    print(f"{entry.name:<{width}}  {entry.purpose}")
    print(f"{'':<{width}}  presets: {', '.join(entry.presets)}")
  print("\nrun one: paramgen run <name>[:<preset>]; see one: paramgen show <name>[:<preset>]")
  return 0


SHOW_USAGE = "usage: paramgen show <name>[:<preset>] [--config.<section>.<key>=<value> ...]"


def _show(argv: list[str]) -> int:
  from paramgen_jax.cli.catalog import flat_lines, resolved
  from paramgen_jax.configlib import ConfigError

  if not argv or argv[0].startswith("-"):
    asked = argv[:1] in (["-h"], ["--help"])
    print(SHOW_USAGE, file=sys.stdout if asked else sys.stderr)
    return 0 if asked else 2
  try:
    print(flat_lines(resolved(argv[0], argv[1:])))
  except ConfigError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  return 0


def main(argv: list[str] | None = None) -> int:
  """The `paramgen` console script; returns (or exits with) the command's status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if not argv or argv[0] in ("-h", "--help", "help"):
    print(__doc__.strip())
    return 0 if argv else 2
  if argv[0] == "--version":
    print(f"paramgen_jax {__version__}")
    return 0
  command, rest = argv[0], argv[1:]
  if command == "run":
    from paramgen_jax.cli import run

    if rest and not rest[0].startswith("-"):  # the config, positional
      rest = [f"--config={rest[0]}", *rest[1:]]
    run.run(["paramgen run", *rest])
    return 0
  if command == "leaderboard":
    from paramgen_jax.cli import leaderboard

    return leaderboard.main(rest)
  if command == "list":
    return _list(rest)
  if command == "show":
    return _show(rest)
  print(f"error: unknown command {command!r}: use one of {', '.join(COMMANDS)} "
        "(paramgen --help)", file=sys.stderr)
  return 2
