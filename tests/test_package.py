"""The package as users install it: a wheel holding every config, a `paramgen` command that
works outside the checkout, and the command's listing, config display and one-line errors.

The wheel is built from a copy of this checkout (`pip wheel --no-deps --no-build-isolation`,
so nothing is written into the checkout) and installed with `pip install --no-deps --target`:
the dependencies come from this environment, the package and its console script only from
the wheel.
"""

import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from paramgen_jax import __version__, cli
from paramgen_jax.configlib import CONFIGS_DIR
from tests.helpers import REPO, subprocess_env


def pip(*args, cwd=None):
  found = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                         cwd=cwd, capture_output=True, text=True, timeout=600)
  assert found.returncode == 0, found.stderr[-3000:]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
  """(the wheel's path, the folder it was installed into)."""
  root = tmp_path_factory.mktemp("wheel")
  source = root / "source"
  shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(
      ".git", ".venv", "runs", "build", "*.egg-info", "__pycache__", "bench", "tests"))
  pip("wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root / "dist"), str(source))
  wheel = next((root / "dist").glob("paramgen_jax-*.whl"))
  pip("install", "--no-deps", "-q", "--target", str(root / "site"), str(wheel))
  return wheel, root / "site"


def paramgen(site, *args, cwd):
  env = {**subprocess_env(), "PYTHONPATH": str(site)}
  return subprocess.run([str(site / "bin" / "paramgen"), *args], cwd=cwd, env=env,
                        capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_wheel_holds_every_config_and_its_command_runs_outside_the_checkout(
    installed, tmp_path):
  wheel, site = installed
  names = set(zipfile.ZipFile(wheel).namelist())
  configs = sorted(f for f in os.listdir(os.path.join(REPO, "configs")) if f.endswith(".py"))
  missing = [f for f in configs if f"paramgen_jax/configs/{f}" not in names]
  assert not missing and len(configs) > 15, missing
  info = f"paramgen_jax-{__version__}.dist-info"
  assert {f"{info}/LICENSE", f"{info}/licenses/LICENSE"} & names  # by setuptools' version
  listed = paramgen(site, "list", cwd=tmp_path)
  assert listed.returncode == 0, listed.stderr
  assert "rpg_convnext" in listed.stdout and "smoke, paper" in listed.stdout
  found = paramgen(site, "run", "toy_gmm:smoke", f"--workdir={tmp_path / 'run'}", cwd=tmp_path)
  assert found.returncode == 0, found.stderr
  assert (tmp_path / "run" / "report.json").exists()
  imported = subprocess.run(
      [sys.executable, "-c", "import paramgen_jax; print(paramgen_jax.__file__)"],
      cwd=tmp_path, env={**subprocess_env(), "PYTHONPATH": str(site)}, capture_output=True,
      text=True)
  assert imported.stdout.startswith(str(site)), imported.stdout  # the wheel's, not the checkout's


def test_help_and_list_need_no_config(capsys):
  assert cli.main(["--help"]) == 0 and "paramgen run" in capsys.readouterr().out
  assert cli.main([]) == 2
  assert cli.main(["list"]) == 0
  out = capsys.readouterr().out
  for name in ("rpg_convnext", "pdiff_digits", "loragen_lora", "d2nwg_digits",
               "mapping_unseen_binary", "toy_gmm"):
    assert f"\n{name} " in f"\n{out}", name
  with pytest.raises(SystemExit) as run_help:
    cli.main(["run", "--help"])
  assert run_help.value.code == 0 and "--workdir" in capsys.readouterr().out


def test_show_prints_the_resolved_config_with_overrides(capsys):
  assert cli.main(["show", "toy_gmm:smoke", "--config.train.steps=7"]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert "train.steps = 7" in lines and "model.hidden = 32" in lines


@pytest.mark.parametrize("args, message", [
    (["show", "toy_gmm:huge"], "config preset 'huge' is unknown: use one of smoke, default"),
    (["show", "nope"], "no such config file 'configs/nope.py'"),
    (["show", "toy_gmm", "--config.train.stepz=1"], "config.train.stepz: unknown key"),
    (["show", "toy_gmm", "--config.train.steps=abc"], "--config.train.steps=abc"),
    (["show"], "usage: paramgen show"),
    (["fit"], "unknown command 'fit'"),
    (["list", "extra"], "usage: paramgen list"),
])
def test_bad_commands_are_one_line_and_status_2(capsys, args, message):
  assert cli.main(args) == 2
  err = capsys.readouterr().err.strip().splitlines()
  assert len(err) == 1 and message in err[0], err


def test_every_config_lists_its_presets_and_purpose():
  from paramgen_jax.cli.catalog import catalog
  entries = catalog()
  assert {e.name for e in entries} == {f[:-3] for f in os.listdir(CONFIGS_DIR)
                                       if f.endswith(".py") and not f.startswith("_")}
  for entry in entries:
    assert entry.presets[0] == "default" and entry.purpose.endswith("."), entry
