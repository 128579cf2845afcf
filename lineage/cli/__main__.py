"""``python -m lineage.cli``: the ``lineage`` command."""

import sys

from . import main

sys.exit(main())
