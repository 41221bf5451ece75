"""`python -m paramgen_jax.cli ...` is the `paramgen` command."""

import sys

from paramgen_jax.cli import main

sys.exit(main())
