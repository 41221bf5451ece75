"""In a checkout, `paramgen leaderboard` as a script:

  python launch/leaderboard.py --config=configs/leaderboard.py[:smoke] --workdir=runs/leaderboard

Flags and exit statuses: `paramgen_jax/cli/leaderboard.py` (or `--help`).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from paramgen_jax.cli import leaderboard  # noqa: E402

if __name__ == "__main__":
  sys.exit(leaderboard.main())
