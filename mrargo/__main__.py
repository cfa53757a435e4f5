"""``python -m mrargo`` is the ``mrargo`` command."""

import sys

from mrargo.cli import main

sys.exit(main())
