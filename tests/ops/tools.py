"""Finding the validators the operations tests run; in CI a missing one fails the run."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def tool(name: str) -> str:
    local = Path(sys.executable).parent / name
    found = str(local) if local.exists() else shutil.which(name)
    if found:
        return found
    message = f"{name} is not installed; run scripts/install-tools.sh"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)
