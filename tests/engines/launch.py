"""``python -m tests.engines.launch ARGS``: the collector's CLI with its storage on chdb 2.1.1."""

import sys

from tests.engines import use

use("24.8")

from modeltrace_collector.cli import main  # noqa: E402 - after the engine is in place

sys.exit(main(sys.argv[1:]))
