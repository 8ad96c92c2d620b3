"""What the evaluation tests share: where the fetched data sets live, and a clear failure when
set-up has not fetched one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

DATA = Path(
    os.environ.get("SHOPASSIST_RAW_DIR", Path(__file__).resolve().parent.parent / "data" / "raw")
).parent


def need(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: run `make data` (scripts/fetch_eval_data.sh)")
    return path
