"""Shared fixtures: isolated data dirs, a real embedded Chroma, a real `chroma run` server,
private runtimes (`runtime_factory`) and the app in a real server (`app_server`).

Plain helpers (the demo customer, `auth()`, `make_runtime`, `AppServer`) are in `support.py`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from retrieval.embed import Encoder
from retrieval.settings import Settings, apply_offline_env, get_settings
from retrieval.stack import RetrievalStack
from tests.support import SECRET, AppServer, free_port, make_runtime

apply_offline_env()
REPO = Path(__file__).resolve().parent.parent
RAW = Path(os.environ.get("SHOPASSIST_RAW_DIR", REPO / "data" / "raw"))
# Scale-out pass (`make test` runs it): a real PostgreSQL server URL, and a Chroma server URL or
# "spawn" (start a private `chroma run` for this session). Unset: SQLite + embedded Chroma.
TEST_DATABASE_URL = os.environ.get("SHOPASSIST_TEST_DATABASE_URL")
TEST_CHROMA_URL = os.environ.get("SHOPASSIST_TEST_CHROMA_URL")
_CREATED_DATABASES: list[str] = []


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


def fresh_database(server_url: str) -> str:
    """A new empty database on `server_url`'s server: sessions and private stacks never share."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    url = make_url(server_url)
    name = f"shopassist_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    fresh = url.set(database=name).render_as_string(hide_password=False)
    _CREATED_DATABASES.append(fresh)
    return fresh


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    if not _CREATED_DATABASES:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    admin = create_engine(
        make_url(TEST_DATABASE_URL), isolation_level="AUTOCOMMIT", poolclass=NullPool
    )
    with admin.connect() as conn:
        for url in _CREATED_DATABASES:
            # FORCE: the session's stacks still hold pooled connections.
            conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def make_settings(data_dir: Path, **overrides) -> Settings:
    data_dir.mkdir(parents=True, exist_ok=True)
    if TEST_DATABASE_URL and "database_url" not in overrides:
        overrides["database_url"] = fresh_database(TEST_DATABASE_URL)
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
def stack(request, tmp_path_factory, encoder) -> RetrievalStack:
    """The real Superstore catalogue in an embedded Chroma and SQLite, built once per session
    (in the scale-out pass: in a Chroma server and a fresh PostgreSQL database)."""
    overrides: dict[str, str] = {}
    if TEST_CHROMA_URL == "spawn":
        overrides["chroma_url"] = request.getfixturevalue("scale_out_chroma").url
    elif TEST_CHROMA_URL:
        overrides["chroma_url"] = TEST_CHROMA_URL
    settings = make_settings(tmp_path_factory.mktemp("embedded"), **overrides)
    if TEST_CHROMA_URL and TEST_CHROMA_URL != "spawn":
        _drop_collections(settings)  # a shared server: start from empty collections
    return build_stack(settings, encoder)


def _drop_collections(settings: Settings) -> None:
    from retrieval.store import make_client

    client = make_client(settings)
    for col in client.list_collections():
        name = getattr(col, "name", col)
        if name.startswith(f"{settings.catalogue}_"):
            client.delete_collection(name)


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
def scale_out_chroma(tmp_path_factory) -> Iterator[ChromaServer]:
    """The `stack` fixture's own server in the scale-out pass (server_stack keeps its own)."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-scale-out"))
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


@pytest.fixture(scope="session")
def runtime_factory(tmp_path_factory, encoder) -> Callable[..., object]:
    """`runtime_factory(name, **settings)`: a private, template-only Runtime on its own data
    dir (the catalogue and knowledge base indexed), for tests that write to the database."""
    from assistant.support import index_knowledge

    def build(name: str, **overrides):
        overrides = {"llm_backend": "none", "widget_secret": SECRET, **overrides}
        settings = make_settings(tmp_path_factory.mktemp(name), **overrides)
        stack = build_stack(settings, encoder)
        index_knowledge(stack)
        return make_runtime(settings, stack)

    return build


@pytest.fixture
def app_server() -> Iterator[Callable[..., AppServer]]:
    """`app_server(data_dir, **kwargs)`: the real app in a subprocess, started and healthy;
    every one started is stopped when the test ends, pass or fail."""
    started: list[AppServer] = []

    def start(data_dir: Path, timeout_s: float = 180.0, **kwargs) -> AppServer:
        server = AppServer(data_dir, **kwargs)
        started.append(server)
        server.start(timeout_s)
        return server

    yield start
    for server in started:
        server.stop()
