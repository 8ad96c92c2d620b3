"""The search benchmark runs end to end in --quick mode and prints its report (not a timing test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RAW = Path(os.environ.get("SHOPASSIST_RAW_DIR", REPO / "data" / "raw"))


@pytest.mark.timeout(120)
def test_search_bench_quick(tmp_path):
    if not (RAW / "superstore").exists():
        pytest.fail(f"{RAW} is missing: run `make data` (make test does it)")
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "search.py"),
            "--quick",
            "--json",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
        },
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = proc.stdout
    assert "# Search benchmark" in report
    assert "| catalogue | queries | n | kept (mean) | method | p50 ms | p99 ms |" in report
    for method in ("chroma-hnsw", "exact-all", "planner", "bucketed-exact"):
        assert f"| {method} |" in report
    assert "planner p99 / Chroma p99" in report
    data = json.loads(out.read_text())
    assert data["index"]["real"]["products"] == 300  # --quick embeds a slice of the real data
    assert [s["items"] for s in data["sizes"]] == [300, 5000]
    for size in data["sizes"]:
        assert set(size["groups"]) == {"unfiltered", "filtered", "selective"}
        for group in size["groups"].values():
            # Exact search is its own ground truth; the planner's exact path must match it.
            assert group["methods"]["exact-all"]["recall_at_10_mean"] == 1.0
            assert group["methods"]["planner-exact"]["recall_at_10_mean"] == 1.0


@pytest.mark.timeout(300)
def test_load_bench_quick(tmp_path, runtime_factory):
    """The load bench against the real app (a subprocess) on an already indexed data dir: it
    runs, counts what it sheds, and meets no errors. Not a timing test."""
    runtime = runtime_factory("load-bench")
    out = tmp_path / "load.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "load.py"),
            "--levels",
            "1,6",
            "--duration",
            "2",
            "--data-dir",
            str(runtime.settings.data_dir),
            "--set",
            "chat_max_in_flight=1",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=280,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "# Load benchmark" in proc.stdout
    assert "| N | order look-up p50 / p99 ms (probe) | probe non-200 |" in proc.stdout
    data = json.loads(out.read_text())
    assert [lv["n"] for lv in data["levels"]] == [1, 6]
    for lv in data["levels"]:
        assert lv["server_alive"] and lv["errors"] == 0 and lv["client_errors"] == 0
        assert lv["endpoints"]["orders"]["statuses"].get("200", 0) > 0
        assert "status_503" in lv and lv["probe_orders"]["n"] > 0


@pytest.mark.timeout(120)
def test_import_bench_small(tmp_path):
    """The import benchmark end to end on a small generated catalogue (no embedding): every
    section printed, the numbers in its JSON consistent (not a timing test)."""
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "import.py"),
            "--products",
            "2000",
            "--repeat",
            "1",
            "--embed",
            "0",
            "--json",
            str(out),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "# Import benchmark" in proc.stdout and "products/s / target 5,000" in proc.stdout
    data = json.loads(out.read_text())
    assert data["first_import"]["runs"][0]["added"] == 2000
    assert data["reimport_same"]["unchanged"] == 2000 and data["reimport_same"]["updated"] == 0
    assert data["reimport_changed"]["updated"] == data["reimport_changed"]["changed_products"] == 20
    assert 2.5 < data["rows"] / data["products"] < 3.5
