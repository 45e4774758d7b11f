"""Small factories shared by tests (imported as ``helpers``; tests/ is on sys.path)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_LICENSE: dict[str, object] = json.loads(
    (ROOT / "examples" / "license.json").read_text(encoding="utf-8")
)
USCC = str(EXAMPLE_LICENSE["uscc"])


def license_data(**changes: object) -> dict[str, object]:
    """The example license with some fields changed (None removes a field)."""
    data = {**EXAMPLE_LICENSE, **changes}
    return {k: v for k, v in data.items() if v is not None}
