"""The template's side-by-side HTTP benchmark (see bench/README.md).

``python -m bench`` runs from the template checkout; the benchmark reuses the
template's test helpers (``tests/``), so the checkout goes on ``sys.path``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
