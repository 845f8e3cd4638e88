"""``python -m levpaper.experiments``: see :func:`levpaper.experiments.cli.main`."""

import sys

from levpaper.experiments.cli import main

if __name__ == "__main__":
    sys.exit(main())
