"""``python -m nlptag.serving BUNDLE...``: ``nlptag serve`` without the Lightning CLI around it."""

import sys

from nlptag.serving.cli import serve_main

sys.exit(serve_main(sys.argv[1:]))
