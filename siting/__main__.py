"""``python -m siting`` is the ``siting`` command."""

import sys

from siting.cli import main

sys.exit(main())
