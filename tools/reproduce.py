"""Re-execute notebooks of the book in place: ``levpaper reproduce`` on this checkout.

``python tools/reproduce.py [NOTEBOOK.ipynb ...]`` is ``levpaper reproduce --root <this checkout>
[NOTEBOOK.ipynb ...]``; the logic is in the library (:mod:`levpaper.reproduce`, command line in
:mod:`levpaper.cli`). ``make reproduce`` runs the command and then rebuilds the book.
"""

from __future__ import annotations

import sys
from pathlib import Path

from levpaper.cli import main

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    sys.exit(main(["reproduce", "--root", str(ROOT), *sys.argv[1:]]))
