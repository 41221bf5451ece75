"""`paramgen run`: flags -> config -> pipeline (in a checkout, also `python launch/main.py`).

  paramgen run toy_gmm --workdir=runs/toy_gmm [--mode=all]
  paramgen run toy_gmm:smoke --config.train.steps=100
  python launch/main.py --config=configs/toy_gmm.py:smoke    # the same, in a checkout

A config is a bare name (configs/<name>.py, `paramgen list` shows them), a path to a config
file, either with `:<preset>`; `--config.<section>.<key>=<value>` overrides any field.

--mode picks one stage (collect, train, sample, eval) or all of them in order. A wrong
config ends with one line naming the key (exit status 2); any other failure with one line
naming the file, unit or key (exit status 1), its traceback in <workdir>/paramgen.log
(--verbose: on the console too); an interrupt (Ctrl-C, SIGTERM) with exit status 130.

On a multi-host slice run the same command once per host (e.g. `srun paramgen run ...`
under SLURM): when the environment says this process is one of several, JAX's
distributed runtime is started before the pipeline, so the mesh spans every host's devices.
"""

import os
import signal
import sys
import time
import traceback

from absl import app, flags, logging
from ml_collections import config_flags

from paramgen_jax import configlib, pipeline, rundir
from paramgen_jax.errors import RunError

# --config is defined once the file is loaded (`parse_flags`, with configlib's loader), so
# absl's --config.<key>=<value> overrides apply to that very ConfigDict.
_CONFIG_HELP = ("Config file, optionally with a preset: configs/x.py:smoke (or a bare name: "
                "x:smoke).")
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for data, checkpoints and reports "
                               "(default: runs/<config name>[_<preset>]).")
_MODE = flags.DEFINE_enum("mode", "all", list(pipeline.MODES), "Stage to run.")
_VERBOSE = flags.DEFINE_bool(
    "verbose", False, "On an error, print the full traceback on the console too (it always "
    "goes to <workdir>/paramgen.log).")
_DETERMINISTIC = flags.DEFINE_bool(
    "deterministic", False, "Bit-reproducible GPU runs (XLA's deterministic ops, no autotuning); "
    "slower. CPU runs are reproducible without it.")

# XLA picks GPU kernels by timing them in each process and may use atomics in reductions, so
# two GPU processes can differ in the last bits; these flags rule both out.
DETERMINISTIC_XLA_FLAGS = "--xla_gpu_deterministic_ops=true --xla_gpu_autotune_level=0"


# Launcher variables holding the number of processes of the job, first match wins. SLURM's
# count is used only inside a job step (srun sets SLURM_STEP_NODELIST): a batch script
# itself is one process even when the job has several tasks.
_JAX_COUNT_VARS = ("JAX_NUM_PROCESSES", "JAX_PROCESS_COUNT")
_PROCESS_COUNT_VARS = _JAX_COUNT_VARS + ("OMPI_COMM_WORLD_SIZE",)
_SLURM_COUNT_VARS = ("SLURM_STEP_NUM_TASKS", "SLURM_NTASKS")


def _cluster_processes(environ) -> int:
  """How many processes the launcher started for this job (1: this one runs alone).

  Reads JAX's own variables (JAX_NUM_PROCESSES or JAX_PROCESS_COUNT, with
  JAX_COORDINATOR_ADDRESS and JAX_PROCESS_ID), Open MPI's, SLURM's inside a job step, and
  TPU pods' (hosts in TPU_WORKER_HOSTNAMES times MEGASCALE_NUM_SLICES).
  """
  names = _PROCESS_COUNT_VARS + (_SLURM_COUNT_VARS if "SLURM_STEP_NODELIST" in environ
                                 else ())
  for name in names:
    if environ.get(name, "").strip().isdigit():
      return int(environ[name])
  hosts = [h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]
  slices = environ.get("MEGASCALE_NUM_SLICES", "").strip()
  return max(len(hosts), 1) * (int(slices) if slices.isdigit() else 1)


def _start_distributed(environ) -> None:
  """jax.distributed.initialize() when this process is one of several; else nothing."""
  if _cluster_processes(environ) <= 1:
    return
  import jax  # here, not at the top: config errors are reported before JAX starts

  # JAX finds SLURM, Open MPI and TPU settings itself, but not a bare count and id.
  explicit = {}
  if "JAX_PROCESS_ID" in environ and any(name in environ for name in _JAX_COUNT_VARS):
    explicit = dict(num_processes=_cluster_processes(environ),
                    process_id=int(environ["JAX_PROCESS_ID"]))
  jax.distributed.initialize(**explicit)


def _default_workdir(config_arg: str) -> str:
  path, _, preset = config_arg.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  return os.path.join("runs", f"{name}_{preset}" if preset else name)


def _expected(error: BaseException) -> bool:
  """Errors whose message already says what is wrong and where (no traceback needed)."""
  return isinstance(error, (configlib.ConfigError, RunError, FileNotFoundError))


def _one_line(error: BaseException) -> str:
  lines = [line.strip() for line in str(error).splitlines() if line.strip()]
  if not lines:
    return type(error).__name__
  # A config file that raised: its own last line says why; the traceback is noise.
  line = lines[-1] if any(line.startswith("Traceback") for line in lines) else lines[0]
  return line if _expected(error) else f"{type(error).__name__}: {line}"


def _log_traceback(workdir: str) -> str | None:
  """Appends the current exception's traceback to the workdir's log; its path, or None."""
  path = rundir.log_path(workdir)
  try:
    with open(path, "a") as f:
      f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(sys.argv)}\n")
      traceback.print_exc(file=f)
    return path
  except OSError:  # the workdir itself may be what is wrong
    return None


def _fail(error: BaseException, workdir: str, code: int) -> None:
  logged = _log_traceback(workdir)
  if _VERBOSE.value:
    traceback.print_exc()
  show_log = logged and not _VERBOSE.value and not _expected(error)
  where = f" (traceback: {logged})" if show_log else ""
  print(f"error: {_one_line(error)}{where}", file=sys.stderr)
  sys.exit(code)


def _config_spec(argv) -> str:
  """The --config value (configs/x.py[:preset] or x[:preset])."""
  values = [a.split("=", 1)[1] for a in argv[1:] if a.startswith("--config=")]
  values += [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "--config"]
  if not values:
    raise configlib.ConfigError("--config: required, e.g. --config=configs/toy_gmm.py:smoke")
  return values[-1]


def _without_config_value(argv) -> list[str]:
  """argv less --config and its value: the config flag holds the loaded ConfigDict."""
  drop = {i for i, a in enumerate(argv) if i > 0 and (a == "--config" or a.startswith("--config="))}
  drop |= {i + 1 for i in drop if argv[i] == "--config"}
  return [a for i, a in enumerate(argv) if i not in drop]


def _load_config(argv):
  """The --config file's ConfigDict, through the loader every entry point shares."""
  spec = _config_spec(argv)
  try:
    return configlib.load_config(spec)
  except configlib.ConfigError as e:
    raise configlib.ConfigError(f"--config: {e}") from None


HELP_FLAGS = ("-h", "--help", "--helpshort", "--helpfull", "-?")


def usage() -> str:
  """This command's help: the module's docstring and its flags."""
  flag_lines = [f"  --{holder.name}: {flags.FLAGS[holder.name].help}" for holder in
                (_WORKDIR, _MODE, _VERBOSE, _DETERMINISTIC)]
  return f"{__doc__.strip()}\n\nflags:\n  --config: {_CONFIG_HELP}\n" + "\n".join(flag_lines)


def parse_flags(argv):
  """absl flag parsing, with every config problem reported as one line (exit status 2)."""
  if any(arg in HELP_FLAGS for arg in argv[1:]):
    print(usage())
    sys.exit(0)
  try:
    config = _load_config(argv)
    for arg in argv[1:]:
      if arg.startswith("--config."):
        configlib.check_override_key(config, arg[len("--config."):].split("=", 1)[0])
    rest = _without_config_value(argv)
    for name in list(flags.FLAGS):  # a second run in one process (a notebook, the tests)
      if name == "config" or name.startswith("config."):
        delattr(flags.FLAGS, name)
    config_flags.DEFINE_config_dict("config", config, _CONFIG_HELP, lock_config=True,
                                    sys_argv=rest)
    return flags.FLAGS(rest)
  except (flags.Error, configlib.ConfigError) as e:
    print(f"error: {_one_line(e)}", file=sys.stderr)
    sys.exit(2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  logging.set_verbosity(logging.WARNING)
  if _DETERMINISTIC.value:  # before JAX starts its backend
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {DETERMINISTIC_XLA_FLAGS}".strip()
  workdir = _WORKDIR.value or _default_workdir(_config_spec(sys.argv))  # app.run parsed it
  # SIGTERM (a scheduler's kill) takes the Ctrl-C path, which checkpoints before exiting.
  signal.signal(signal.SIGTERM, signal.default_int_handler)
  # Every failure ends as one line naming what is wrong (exit status 2 for a config, 1 for
  # anything else); the traceback goes to the workdir's log, and with --verbose to the console.
  try:
    _start_distributed(os.environ)  # before anything asks JAX for its devices
    pipeline.run(flags.FLAGS.config, workdir, _MODE.value)
  except KeyboardInterrupt:
    print(f"interrupted: run the same command again to resume from {workdir}", file=sys.stderr)
    sys.exit(130)
  except configlib.ConfigError as e:
    _fail(e, workdir, 2)
  except Exception as e:  # noqa: BLE001 - the last line of defence: one line, never a dump
    _fail(e, workdir, 1)
  print(f"done: {_MODE.value} in {workdir}")


def run(argv: list[str] | None = None) -> None:
  """Runs the command on `argv` (sys.argv's form: the program first); exits with its status."""
  app.run(main, argv=list(sys.argv if argv is None else argv), flags_parser=parse_flags)
