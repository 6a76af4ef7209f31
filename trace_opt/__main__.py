"""``python -m trace_opt ...``: the command line (see ``trace_opt.cli``)."""

import sys

from trace_opt.cli import main

if __name__ == "__main__":
    sys.exit(main())
