"""``python -m nlptag.cli``: the ``nlptag`` command."""

import sys

from nlptag.cli import main

sys.exit(main())
