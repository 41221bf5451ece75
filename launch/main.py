"""In a checkout, `paramgen run` as a script:

  python launch/main.py --config=configs/rpg_convnext.py[:preset] [--workdir=DIR] [--mode=MODE]

Flags, overrides and exit statuses: `paramgen_jax/cli/run.py` (or `--help`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paramgen_jax.cli import run  # noqa: E402

if __name__ == "__main__":
  run.run()
