"""Fault injection: each test breaks one dependency for real and checks the app degrades
cleanly (a clear answer or a clear JSON error, never a 500 or lost data) and recovers by itself.

- Chroma server killed mid-session, then restarted on the same path and port;
- the SmolLM2 GGUF corrupted on disk;
- the SQLite database locked by another connection, and the disk full (injected at the driver);
- the app SIGKILLed while clients write event batches, then restarted on the same data dir.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app import create_app
from assistant.llm import model_files
from assistant.llm.model_files import ModelFileError, model_path
from assistant.runtime import Runtime
from assistant.support import index_knowledge
from retrieval.constraints import parse
from retrieval.db import ChatLogRow, EventRow, OrderRow
from tests.conftest import ChromaServer, build_stack, make_settings
from tests.support import CUSTOMER, SECRET, auth, make_runtime

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(180)


def assert_json_error(resp: httpx.Response, status: int, code: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert body["error"]["message"]
    return body["error"]


def own_order(runtime: Runtime) -> str:
    with runtime.stack.db.session() as s:
        return s.scalar(
            select(OrderRow.id)
            .where(OrderRow.customer_id == CUSTOMER)
            .order_by(OrderRow.order_date.desc())
        )


@pytest.fixture(scope="module")
def runtime(runtime_factory) -> Runtime:
    """A private, embedded, template-only runtime (the DB faults must not touch other tests)."""
    return runtime_factory("faults")


@pytest.fixture(scope="module")
def client(runtime) -> TestClient:
    return TestClient(create_app(runtime.settings, runtime))


# Chroma ------------------------------------------------------------------------------------
@pytest.mark.server
def test_chroma_killed_mid_session_degrades_then_recovers(tmp_path, encoder):
    server = ChromaServer(tmp_path / "chroma")  # its own path and port: others keep theirs
    server.start()
    try:
        settings = make_settings(
            tmp_path / "data", chroma_url=server.url, llm_backend="none", widget_secret=SECRET
        )
        stack = build_stack(settings, encoder)
        index_knowledge(stack)
        runtime = make_runtime(settings, stack)
        client = TestClient(create_app(settings, runtime))
        search = stack.search()
        query = parse("a comfortable office chair", stack.catalogue.vocabulary)

        assert client.get("/api/health").status_code == 200
        before = search.search(query, k=5, plan="hnsw")
        assert before.plan == "hnsw" and len(before.hits) == 5
        assert client.post("/api/chat", json={"message": "a bookcase"}).status_code == 200

        server.proc.kill()  # SIGKILL: no goodbye to the client
        server.proc.wait()

        # Search answers from the in-memory mirror, flagged as degraded.
        degraded = search.search(query, k=5, plan="hnsw")
        assert degraded.plan == "exact-degraded" and len(degraded.hits) == 5
        health = client.get("/api/health")
        assert health.status_code == 503
        assert health.json()["status"] == "degraded" and health.json()["chroma"]["ok"] is False
        # Shoppers still get answers: recommendations, and policy questions (knowledge search).
        for message in ("I need a bookcase under $200", "what is your return policy?"):
            resp = client.post("/api/chat", headers=auth(), json={"message": message})
            assert resp.status_code == 200, resp.text
            assert resp.json()["text"]
        assert client.get(f"/api/home/{CUSTOMER}", headers=auth()).status_code == 200

        server.start()  # same path, same port; the app is not restarted
        deadline = time.monotonic() + 20
        while client.get("/api/health").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get("/api/health").json()["chroma"]["ok"] is True
        again = search.search(query, k=5, plan="hnsw")
        assert again.plan == "hnsw"
        assert [h.product.id for h in again.hits] == [h.product.id for h in before.hits]
    finally:
        server.stop()


# The model file ----------------------------------------------------------------------------
def test_corrupt_model_file_is_refused_and_templates_answer(tmp_path, runtime, client, monkeypatch):
    real = model_path("smollm2", tmp_path / "verified")  # the packaged file, verified
    corrupt = tmp_path / "site" / real.name
    corrupt.parent.mkdir()
    shutil.copyfile(real, corrupt)
    with corrupt.open("r+b") as f:  # flip bytes mid-file: the GGUF magic still looks fine
        f.seek(corrupt.stat().st_size // 2)
        chunk = f.read(64)
        f.seek(-len(chunk), 1)
        f.write(bytes(b ^ 0xFF for b in chunk))
    # Where the installed package's file is found: point it at the corrupt copy.
    monkeypatch.setattr(model_files, "_dist_file", lambda dist, suffix: corrupt)

    models_dir = tmp_path / "models"
    with pytest.raises(ModelFileError, match="SHA-256 mismatch") as err:
        model_path("smollm2", models_dir)
    assert str(corrupt) in str(err.value) and "reinstall" in str(err.value)
    assert not list(models_dir.glob("*.verified.json"))  # a failure is never remembered

    # The runtime's own load path with the local backend: it refuses the file and keeps serving.
    settings = runtime.settings.model_copy(
        update={"llm_backend": "local", "llm_local_model": "smollm2", "data_dir": tmp_path}
    )
    rt = make_runtime(settings, runtime.stack)
    rt._load_llm()
    assert rt.llm_status.startswith("unavailable: ") and "SHA-256 mismatch" in rt.llm_status
    assert rt.agent.llm is None

    app = TestClient(create_app(settings, rt))
    assert app.get("/api/health").json()["llm_status"] == rt.llm_status
    order = own_order(runtime)
    for message, intent in (
        (f"where is my order {order}?", "order_status"),
        (f"I want to return order {order}", "return_request"),
        ("what is your return policy?", "policy"),
    ):
        body = app.post("/api/chat", headers=auth(), json={"message": message}).json()
        assert body["intent"] == intent and body["text"] and not body["generated"], body
        if intent == "order_status":
            assert order in body["text"]


# The database ------------------------------------------------------------------------------
def _db_path(runtime: Runtime) -> Path:
    return Path(runtime.stack.db.engine.url.database)


def _count(runtime: Runtime, model, *where) -> int:
    with runtime.stack.db.session() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Another process's writer, holding SQLite's write lock until released."""
    conn = sqlite3.connect(path, timeout=1, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


@contextmanager
def disk_full(runtime: Runtime) -> Iterator[None]:
    """Every INSERT fails as SQLite does on a full disk (injected where the driver executes,
    so SQLAlchemy, the transaction and the rollback are all the real ones)."""
    dialect = runtime.stack.db.engine.dialect
    real_execute, real_many = dialect.do_execute, dialect.do_executemany

    def failing(real):
        def run(cursor, statement, parameters, context=None):
            if statement.lstrip().upper().startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return real(cursor, statement, parameters, context)

        return run

    dialect.do_execute, dialect.do_executemany = failing(real_execute), failing(real_many)
    try:
        yield
    finally:
        dialect.do_execute, dialect.do_executemany = real_execute, real_many


@pytest.mark.parametrize("fault", ["locked", "disk_full"])
def test_storage_failure_is_a_clear_503_and_chat_still_answers(fault, runtime, client):
    if runtime.stack.db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite-specific faults")
    pid = runtime.stack.catalogue.products[0].id
    batch = [
        {"id": f"{fault}-{i}", "type": "view", "product_id": pid, "session_id": "s1"}
        for i in range(5)
    ]
    events_before = _count(runtime, EventRow)
    logs_before = _count(runtime, ChatLogRow)
    fault_ctx = exclusive_lock(_db_path(runtime)) if fault == "locked" else disk_full(runtime)
    with fault_ctx:
        resp = client.post(
            "/api/events", headers={**auth(), "Idempotency-Key": f"k-{fault}"}, json=batch
        )
        assert_json_error(resp, 503, "storage_unavailable")
        assert resp.headers["Retry-After"]
        # The shopper still gets an answer; the chat log and mention events are best effort.
        chat = client.post(
            "/api/chat", headers=auth(), json={"message": "I need a bookcase under $200"}
        )
        assert chat.status_code == 200, chat.text
        assert chat.json()["products"]
    # Nothing half-written: no event of the batch and no chat-log row (user or assistant).
    assert _count(runtime, EventRow, EventRow.id.like(f"{fault}-%")) == 0
    assert _count(runtime, EventRow) == events_before
    assert _count(runtime, ChatLogRow) == logs_before
    # Recovery: the same request (same key: the failure was not cached) now stores all five.
    retry = client.post(
        "/api/events", headers={**auth(), "Idempotency-Key": f"k-{fault}"}, json=batch
    )
    assert retry.status_code == 200, retry.text
    assert sorted(retry.json()["accepted"]) == sorted(e["id"] for e in batch)


# Killing the app mid-write -----------------------------------------------------------------
BATCH = 25
TOTAL = 400  # batches
KILL_AFTER = 40  # acknowledged batches before the kill
# One attempt's limit. It only bounds an attempt: a slow answer (a busy machine) is retried
# with the same ids and Idempotency-Key; what decides the test is the deadline below.
ATTEMPT_TIMEOUT_S = 60.0
WRITE_DEADLINE_S = 180.0  # for the first KILL_AFTER acknowledgements, and for the retries


def _batch(n: int, pid: str) -> list[dict]:
    # One shopper per batch: the per-shopper events rate limit is not what is tested here.
    return [{"id": f"kill-{n}-{i}", "type": "click", "product_id": pid} for i in range(BATCH)]


def _post(http: httpx.Client, n: int, pid: str) -> httpx.Response | None:
    try:
        return http.post(
            "/api/events",
            json={"events": _batch(n, pid)},
            headers={**auth(f"shopper-{n}"), "Idempotency-Key": f"batch-{n}"},
        )
    except httpx.HTTPError:  # a timeout, or the server gone: not acknowledged
        return None


def _pause(resp: httpx.Response | None) -> float:
    if resp is not None and resp.headers.get("Retry-After", "").isdigit():
        return min(float(resp.headers["Retry-After"]), 2.0)
    return 0.1


def post_until_stored(http: httpx.Client, n: int, pid: str, deadline: float) -> dict:
    """Retry one batch (same ids, same Idempotency-Key) until a 200 or the deadline."""
    while True:
        resp = _post(http, n, pid)
        if resp is not None and resp.status_code == 200:
            return resp.json()
        if time.monotonic() > deadline:
            got = "no answer" if resp is None else f"{resp.status_code} {resp.text[:200]}"
            pytest.fail(f"batch {n} not stored by the deadline (last: {got})")
        time.sleep(_pause(resp))


def _per_batch_counts(db: Path, batches: int) -> dict[int, int]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        rows = conn.execute("SELECT id FROM events WHERE id LIKE 'kill-%'").fetchall()
    finally:
        conn.close()
    counts = dict.fromkeys(range(batches), 0)
    for (eid,) in rows:
        counts[int(eid.split("-")[1])] += 1
    return counts


@pytest.mark.timeout(600)
def test_app_killed_while_writing_events_loses_nothing(tmp_path, encoder, app_server):
    settings = make_settings(tmp_path / "data", llm_backend="none", widget_secret=SECRET)
    if not settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("inspects the SQLite file directly")
    stack = build_stack(settings, encoder)
    index_knowledge(stack)  # so the app's start-up has nothing to index
    pid = stack.catalogue.products[0].id
    db = Path(stack.db.engine.url.database)
    stack.db.engine.dispose()

    acked: set[int] = set()
    lock = threading.Lock()
    todo = list(range(TOTAL))
    stop = threading.Event()

    def writer(url: str) -> None:
        # Keeps writing until told to stop: a failed or timed-out attempt puts its batch
        # back for a later retry and never ends the writer.
        with httpx.Client(base_url=url, timeout=ATTEMPT_TIMEOUT_S) as http:
            while not stop.is_set():
                with lock:
                    if not todo:
                        return
                    n = todo.pop(0)
                resp = _post(http, n, pid)
                ok = resp is not None and resp.status_code == 200
                with lock:
                    if ok:
                        acked.add(n)
                    else:
                        todo.append(n)  # unacknowledged: retried later
                if not ok:
                    time.sleep(_pause(resp))

    # Healthy means ready: the app builds its services before it listens (see create_app).
    server = app_server(settings.data_dir, secret=SECRET)
    threads = [threading.Thread(target=writer, args=(server.url,)) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + WRITE_DEADLINE_S
        while len(acked) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()  # SIGKILL while the writers are mid-request
    finally:
        stop.set()
        for t in threads:
            t.join(ATTEMPT_TIMEOUT_S + 5)
    killed_with = len(acked)
    assert KILL_AFTER <= killed_with < TOTAL, (
        f"the kill must land mid-stream ({killed_with} batches acknowledged in "
        f"{WRITE_DEADLINE_S:.0f} s; see {server.log_path})"
    )

    # Straight after the crash: every acknowledged batch is whole, no batch is partial.
    counts = _per_batch_counts(db, TOTAL)
    assert all(counts[n] == BATCH for n in acked), "an acknowledged event was lost"
    assert set(counts.values()) <= {0, BATCH}, "a batch was partially written"

    restarted = app_server(settings.data_dir, secret=SECRET)
    retried: dict[int, dict] = {}
    deadline = time.monotonic() + WRITE_DEADLINE_S
    with httpx.Client(base_url=restarted.url, timeout=ATTEMPT_TIMEOUT_S) as http:
        for n in sorted(set(range(TOTAL)) - acked):
            retried[n] = post_until_stored(http, n, pid, deadline)
    restarted.stop()
    for n, body in retried.items():
        # A batch committed before the kill but never acknowledged comes back as duplicates,
        # as a whole; one that was not committed is stored now, as a whole.
        assert (len(body["accepted"]), len(body["duplicates"])) in ((BATCH, 0), (0, BATCH)), body
        assert (counts[n] == BATCH) == (len(body["duplicates"]) == BATCH)
    log.info(
        "killed after %d acknowledged batches; %d more were committed but unacknowledged",
        killed_with,
        sum(1 for body in retried.values() if body["duplicates"]),
    )
    final = _per_batch_counts(db, TOTAL)
    assert all(c == BATCH for c in final.values())  # every event once (ids are primary keys)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT count(*) FROM events WHERE id LIKE 'kill-%'").fetchone() == (
            TOTAL * BATCH,
        )
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
