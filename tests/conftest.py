"""Shared fixtures: isolated data dirs, a real embedded Chroma, and a real `chroma run` server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from retrieval.embed import Encoder
from retrieval.settings import Settings, apply_offline_env, get_settings
from retrieval.stack import RetrievalStack

apply_offline_env()
REPO = Path(__file__).resolve().parent.parent
RAW = Path(os.environ.get("SHOPASSIST_RAW_DIR", REPO / "data" / "raw"))


class MemoEncoder(Encoder):
    """The real packaged model, memoised so the suite embeds each product text only once."""

    def __init__(self) -> None:
        super().__init__(batch_size=64, threads=2)
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts, progress: bool = False) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if todo:
            for t, v in zip(todo, super().encode(todo), strict=True):
                self._memo[t] = v
        return np.stack([self._memo[t] for t in texts]) if texts else super().encode([])


@pytest.fixture(scope="session")
def encoder() -> MemoEncoder:
    return MemoEncoder()


def make_settings(data_dir: Path, **overrides) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    raw = data_dir / "raw"
    if not raw.exists():
        if not RAW.exists():
            pytest.fail(f"{RAW} is missing: run `make data` (make test does it)")
        raw.symlink_to(RAW, target_is_directory=True)
    return get_settings(data_dir=data_dir, **overrides)


def build_stack(settings: Settings, encoder: Encoder) -> RetrievalStack:
    stack = RetrievalStack.build(settings)
    stack.encoder = encoder
    stack.index()
    from retrieval.events import seed_purchases_from_orders

    seed_purchases_from_orders(stack.db)
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory, encoder) -> RetrievalStack:
    """The real Superstore catalogue in an embedded Chroma and SQLite, built once per session."""
    return build_stack(make_settings(tmp_path_factory.mktemp("embedded")), encoder)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ChromaServer:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        exe = shutil.which("chroma", path=str(Path(sys.executable).parent)) or "chroma"
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        self.proc = subprocess.Popen(
            [exe, "run", "--path", str(self.path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited with {self.proc.returncode}")
            time.sleep(0.2)
        raise RuntimeError("chroma server did not answer its heartbeat")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory) -> Iterator[ChromaServer]:
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def server_stack(tmp_path_factory, encoder, chroma_server) -> RetrievalStack:
    """The same catalogue, indexed into a real Chroma server over HTTP."""
    settings = make_settings(tmp_path_factory.mktemp("server"), chroma_url=chroma_server.url)
    return build_stack(settings, encoder)


@pytest.fixture(params=["embedded", "server"])
def any_stack(request) -> RetrievalStack:
    """Runs a test once against embedded Chroma and once against the real server."""
    return request.getfixturevalue("stack" if request.param == "embedded" else "server_stack")
