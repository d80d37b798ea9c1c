"""``python -m modeltrace_collector [flags]`` runs the collector, like ``modeltrace collector run``.

Any ``modeltrace`` command also works here (``python -m modeltrace_collector models``).
"""

import sys

from .cli import COMMANDS, main

args = sys.argv[1:]
if not args or (args[0] not in COMMANDS and args[0] not in ("-h", "--help", "--version")):
    args = ["collector", "run", *args]
sys.exit(main(args))
