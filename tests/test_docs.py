"""The README and docs/ for users: short, no development log, every link resolves, and every
rendered table (README's leaderboard among them) equals what its result file renders."""

import glob
import os
import re

import pytest

from tests.helpers import REPO

DOCS = ["README.md"] + sorted(os.path.relpath(p, REPO) for p in
                              glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True))
LINK = re.compile(r"\]\(([^)\s]+)\)")


def read(path):
  return open(os.path.join(REPO, path)).read()


def test_readme_is_short():
  assert len(read("README.md").splitlines()) <= 250


@pytest.mark.parametrize("path", DOCS)
def test_no_issue_numbers(path):
  found = re.findall(r".{0,40}issue [0-9].{0,20}", read(path), re.IGNORECASE)
  assert not found, found


@pytest.mark.parametrize("path", DOCS)
def test_every_relative_link_resolves(path):
  broken = []
  for target in LINK.findall(read(path)):
    if re.match(r"[a-z]+:", target) or target.startswith("#"):
      continue
    resolved = os.path.normpath(os.path.join(REPO, os.path.dirname(path), target.split("#")[0]))
    if not os.path.exists(resolved):
      broken.append(target)
  assert not broken, broken


def test_the_link_checker_sees_a_broken_link(tmp_path):
  assert LINK.findall("see [a](docs/nope.md) and [b](https://x.org)") == ["docs/nope.md",
                                                                         "https://x.org"]


def test_rendered_tables_equal_their_result_files(capsys):
  from bench import render_docs
  assert render_docs.main(["--check"]) == 0, capsys.readouterr().err
  assert "<!-- rendered:leaderboard_cpu2 -->" in read("README.md")


def test_the_renderer_sees_a_typed_change():
  from bench import render_docs
  text = "x\n<!-- rendered:suite_time_cpu2 -->\n| typed |\n<!-- rendered:end -->\ny"
  new, changed = render_docs.render(text)
  assert changed == ["suite_time_cpu2"] and "| typed |" not in new
  assert render_docs.render(new) == (new, [])


# Tables typed by hand that hold no measured figure: what a notebook or a fault is.
DESCRIPTIVE = {"| notebook | runs |", "| fault | before | now |"}


def typed_tables(text):
  """The header line of every markdown table outside a rendered block."""
  from bench import render_docs
  outside = render_docs.BLOCK.sub("", text)
  lines = outside.split("\n")
  return [line for k, line in enumerate(lines)
          if line.startswith("|") and (k == 0 or not lines[k - 1].startswith("|"))]


@pytest.mark.parametrize("path", DOCS)
def test_result_tables_are_rendered(path):
  typed = [h for h in typed_tables(read(path)) if h not in DESCRIPTIVE]
  assert not typed, f"typed tables (render them from bench/results/): {typed}"


def test_a_typed_result_table_is_found():
  text = ("<!-- rendered:x -->\n| a | b |\n|---|---|\n<!-- rendered:end -->\n\n"
          "| d | factored (ms) |\n|---|---|\n| 64 | 0.41 |\n")
  assert typed_tables(text) == ["| d | factored (ms) |"]
