"""The ``bouncy_castle`` fixture: ``SmCheck.java`` compiled once per session (see smcheck.py)."""

from __future__ import annotations

import pytest
from interop.smcheck import SmCheck, compile_smcheck


@pytest.fixture(scope="session")
def bouncy_castle(tmp_path_factory: pytest.TempPathFactory) -> SmCheck:
    return compile_smcheck(tmp_path_factory.mktemp("smcheck"))
