"""Load test: N concurrent simulated shoppers against the real app over loopback HTTP.

Starts the app (uvicorn in a subprocess, templates only by default) on a temporary data dir
indexed from data/raw by the app's own start-up code (or on --data-dir), then, for each level
N, runs N shoppers for --duration seconds. Each shopper repeats a visit as a real, signed-in
customer: home page, clicks (POST /api/events, with ids and an Idempotency-Key), chat turns,
an order look-up. Reports req/s, p50/p99 per endpoint, shed (429/503: "busy, try again") and
errors (other 5xx, timeouts, dropped connections), with ratios against N=1 from the same run.

The N shoppers share this one Python process; under hundreds of them it saturates, and their
timings then include waiting for their own client. So each level also runs a probe: one more
shopper in a process of its own, looking up an order every 100 ms (the headline column), and
every answer's `Server-Timing` gives the app's own share.

    python bench/load.py [--levels 1,64,128,256] [--duration 15] [--data-dir DIR] [--json FILE]
                         [--set chat_max_in_flight=4 --set reads_max_in_flight=8 ...]

The app admits a chat turn or refuses it at once (503 + Retry-After) and serves reads
(orders, products, health; home pages) and event writes from budgets of their own, so the
first table shows the effect: order look-ups stay fast as shoppers multiply, and the 503s are
counted, not hidden. Shoppers have no think time, but after a 429/503 one waits Retry-After
(plus up to 50 % jitter) as a client should (`--ignore-retry-after`: it goes straight on).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import multiprocessing
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.web.identity import issue_token  # noqa: E402
from bench._common import REPO, Latency, fmt_ms, fmt_ratio, markdown_table, ratio  # noqa: E402
from tests.support import AppServer  # noqa: E402

log = logging.getLogger("bench.load")

ENDPOINTS = ("home", "events", "chat", "orders")
CHAT_MESSAGES = (
    "I need a bookcase under $150",
    "a good office chair",
    "binders but not Avery",
    "paper for my printer",
    "what is your return policy?",
    "a phone headset for calls",
    "cheaper",
    "how long does shipping take?",
)
SHED_STATUSES = {429, 503}


# Results -------------------------------------------------------------------------------------
@dataclass
class LevelStats:
    """Everything one level observed, per endpoint."""

    n: int
    duration_s: float = 0.0
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    # The app's own time per 2xx answer (its Server-Timing header): the rest of a latency is
    # spent before the app sees the request (the event loop, the CPU) or in this client.
    server_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    server_alive: bool = True
    server_rss_mb: float = 0.0
    probe: list[tuple[int, float]] = field(default_factory=list)  # see probe_orders

    def record(self, endpoint: str, status: int, ms: float, server_ms: float | None = None) -> None:
        self.statuses[endpoint][status] += 1
        if 200 <= status < 300:
            self.latencies_ms[endpoint].append(ms)
            if server_ms is not None:
                self.server_ms[endpoint].append(server_ms)

    def fail(self, endpoint: str, kind: str) -> None:
        self.failures[endpoint][kind] += 1

    def count(self, pred) -> int:
        return sum(c for ep in self.statuses.values() for s, c in ep.items() if pred(s))

    @property
    def ok(self) -> int:
        return self.count(lambda s: 200 <= s < 300)

    @property
    def shed(self) -> int:
        return self.count(lambda s: s in SHED_STATUSES)

    @property
    def server_errors(self) -> int:
        return self.count(lambda s: s >= 500 and s not in SHED_STATUSES)

    @property
    def client_errors(self) -> int:
        # 4xx other than 429: the load script sent something the API rejected (a script bug).
        return self.count(lambda s: 400 <= s < 500 and s not in SHED_STATUSES)

    @property
    def timeouts(self) -> int:
        return sum(c for ep in self.failures.values() for k, c in ep.items() if k == "timeout")

    @property
    def transport_errors(self) -> int:
        return sum(c for ep in self.failures.values() for k, c in ep.items() if k != "timeout")

    @property
    def errors(self) -> int:
        return self.server_errors + self.timeouts + self.transport_errors

    @property
    def rps(self) -> float:
        return self.ok / self.duration_s if self.duration_s else 0.0

    def status_count(self, status: int, endpoint: str | None = None) -> int:
        eps = [endpoint] if endpoint else list(self.statuses)
        return sum(self.statuses[ep][status] for ep in eps)

    def latency(self, endpoint: str) -> Latency:
        return Latency.of(self.latencies_ms.get(endpoint, []))

    def as_json(self) -> dict:
        return {
            "n": self.n,
            "duration_s": round(self.duration_s, 2),
            "ok": self.ok,
            "rps": round(self.rps, 2),
            "shed": self.shed,
            "status_503": self.status_count(503),
            "status_429": self.status_count(429),
            "errors": self.errors,
            "server_errors": self.server_errors,
            "timeouts": self.timeouts,
            "transport_errors": self.transport_errors,
            "client_errors": self.client_errors,
            "server_alive": self.server_alive,
            "server_rss_mb": round(self.server_rss_mb, 1),
            "probe_orders": {
                **Latency.of([ms for st, ms in self.probe if st == 200]).as_json(),
                "statuses": dict(Counter(str(st) for st, _ in self.probe)),
            },
            "endpoints": {
                ep: {
                    **self.latency(ep).as_json(),
                    "server": Latency.of(self.server_ms.get(ep, [])).as_json(),
                    "statuses": {str(k): v for k, v in sorted(self.statuses[ep].items())},
                    "failures": dict(self.failures[ep]),
                }
                for ep in ENDPOINTS
            },
        }


# The app under test: tests.support.AppServer (the tests' own) --------------------------
def prepare_data_dir(data_dir: Path | None) -> tuple[Path, bool]:
    """(data dir, whether it is ours to delete). data/raw is linked in when the dir has no raw
    files; the app indexes it at start-up with its own code (Runtime.build → ensure_indexed)."""
    owned = data_dir is None
    data_dir = Path(tempfile.mkdtemp(prefix="shopassist-load-")) if owned else data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    raw = Path(os.environ.get("SHOPASSIST_RAW_DIR", REPO / "data" / "raw"))
    if not (data_dir / "raw").exists():
        if not raw.exists():
            raise SystemExit(f"{raw} is missing: run `make data`")
        (data_dir / "raw").symlink_to(raw.resolve(), target_is_directory=True)
    return data_dir, owned


@dataclass(frozen=True)
class Fixtures:
    """Real customers with their orders, and real product ids, read from the app's database."""

    orders_by_customer: dict[str, list[str]]
    product_ids: list[str]


def load_fixtures(data_dir: Path) -> Fixtures:
    from sqlalchemy import select

    from retrieval.db import Database, OrderRow, ProductRow
    from retrieval.settings import get_settings

    db = Database(get_settings(data_dir=data_dir).resolved_database_url)
    with db.session() as s:
        orders: dict[str, list[str]] = defaultdict(list)
        for oid, cid in s.execute(select(OrderRow.id, OrderRow.customer_id)):
            orders[cid].append(oid)
        products = list(s.scalars(select(ProductRow.id)))
    db.engine.dispose()
    return Fixtures(dict(orders), products)


def _server_ms(header: str) -> float | None:
    """`app;dur=12.3` → 12.3."""
    for part in header.split(";"):
        if part.strip().startswith("dur="):
            try:
                return float(part.strip()[4:])
            except ValueError:
                return None
    return None


# The shoppers -------------------------------------------------------------------------------
class Driver:
    """Runs simulated shoppers; each visit is one real customer, cycling through them all so
    per-shopper rate limits reflect real traffic rather than one very fast user."""

    def __init__(
        self,
        base_url: str,
        secret: str,
        fx: Fixtures,
        timeout_s: float,
        seed: int,
        honour_retry_after: bool = True,
    ) -> None:
        self.base_url, self.secret, self.fx, self.timeout_s = base_url, secret, fx, timeout_s
        self.honour_retry_after = honour_retry_after
        self.customers = sorted(fx.orders_by_customer)
        self.rng = random.Random(seed)
        self.rng.shuffle(self.customers)
        self._next = 0
        self.run_id = secrets.token_hex(4)
        self._seq = 0

    def next_customer(self) -> str:
        cid = self.customers[self._next % len(self.customers)]
        self._next += 1
        return cid

    def next_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}-{self.run_id}-{self._seq}"

    async def call(
        self,
        client: httpx.AsyncClient,
        stats: LevelStats,
        endpoint: str,
        method: str,
        path: str,
        **kwargs,
    ) -> httpx.Response | None:
        t = time.perf_counter()
        try:
            resp = await client.request(method, path, **kwargs)
        except httpx.TimeoutException:
            stats.fail(endpoint, "timeout")
            return None
        except httpx.HTTPError as exc:
            stats.fail(endpoint, type(exc).__name__)
            return None
        stats.record(
            endpoint,
            resp.status_code,
            (time.perf_counter() - t) * 1e3,
            _server_ms(resp.headers.get("server-timing", "")),
        )
        if resp.status_code in SHED_STATUSES and self.honour_retry_after:
            # As a client should (and a shopper who is shown "busy" does): come back later,
            # with jitter, so the shoppers refused together don't all come back together.
            retry = resp.headers.get("Retry-After", "1")
            wait = min(float(retry) if retry.isdigit() else 1.0, 10.0)
            await asyncio.sleep(wait * random.uniform(1.0, 1.5))
        if resp.status_code >= 500 and resp.status_code not in SHED_STATUSES:
            log.warning("%s %s → %s %s", method, path, resp.status_code, resp.text[:200])
        elif 400 <= resp.status_code < 500 and resp.status_code not in SHED_STATUSES:
            log.debug("%s %s → %s %s", method, path, resp.status_code, resp.text[:200])
        return resp

    async def visit(self, client: httpx.AsyncClient, stats: LevelStats, rng: random.Random) -> None:
        cid = self.next_customer()
        headers = {"Authorization": f"Bearer {issue_token(self.secret, cid, 3600)}"}
        home = await self.call(client, stats, "home", "GET", f"/api/home/{cid}", headers=headers)
        shown: list[str] = []
        if home is not None and home.status_code == 200:
            shown = [it["id"] for sec in home.json()["sections"] for it in sec["items"]]
        picks = rng.sample(shown, min(len(shown), 3)) or rng.sample(self.fx.product_ids, 2)
        batch = [
            {"id": self.next_id("load"), "type": rng.choice(("view", "click")), "product_id": pid}
            for pid in picks
        ]
        await self.call(
            client,
            stats,
            "events",
            "POST",
            "/api/events",
            json={"events": batch},
            headers={**headers, "Idempotency-Key": self.next_id("batch")},
        )
        session_id = None
        for message in rng.sample(CHAT_MESSAGES, 2):
            body: dict[str, str] = {"message": message}
            if session_id:
                body["session_id"] = session_id
            resp = await self.call(
                client, stats, "chat", "POST", "/api/chat", json=body, headers=headers
            )
            if resp is not None and resp.status_code == 200:
                session_id = resp.json()["session_id"]
        oid = rng.choice(self.fx.orders_by_customer[cid])
        await self.call(client, stats, "orders", "GET", f"/api/orders/{oid}", headers=headers)

    async def shopper(
        self, client: httpx.AsyncClient, stats: LevelStats, deadline: float, seed: int
    ) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            await self.visit(client, stats, rng)

    async def run_level(self, n: int, duration_s: float) -> LevelStats:
        stats = LevelStats(n)
        # One client (one keep-alive connection) per shopper, as browsers are: a single pool
        # shared by hundreds of tasks costs this process more CPU than the requests do.
        clients = [
            httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_s) for _ in range(n)
        ]
        try:
            t = time.monotonic()
            deadline = t + duration_s
            # A visit in flight at the deadline finishes: it counts toward the elapsed time.
            await asyncio.gather(
                *(
                    self.shopper(client, stats, deadline, self.rng.randrange(2**31))
                    for client in clients
                )
            )
            stats.duration_s = time.monotonic() - t
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        return stats


def probe_orders(
    base_url: str, secret: str, customer: str, order_id: str, duration_s: float
) -> list[tuple[int, float]]:
    """One more shopper, in a process of its own, looking up an order every 100 ms.

    The load shoppers share one Python process, which saturates under hundreds of them, so
    their own timings include time spent waiting for their client; the probe's do not. Its
    (status, ms) pairs are what one shopper sees while N others load the store."""
    headers = {"Authorization": f"Bearer {issue_token(secret, customer, 3600)}"}
    out: list[tuple[int, float]] = []
    deadline = time.monotonic() + duration_s
    with httpx.Client(base_url=base_url, timeout=30) as http:
        while time.monotonic() < deadline:
            t = time.perf_counter()
            try:
                status = http.get(f"/api/orders/{order_id}", headers=headers).status_code
            except httpx.HTTPError:
                status = 0
            out.append((status, (time.perf_counter() - t) * 1e3))
            time.sleep(0.1)
    return out


# Report ------------------------------------------------------------------------------------
def admission_table(levels: list[LevelStats]) -> str:
    """The headline: order look-ups vs chat turns, and what was shed."""
    rows = []
    for lv in levels:
        orders, chat = lv.latency("orders"), lv.latency("chat")
        in_app = Latency.of(lv.server_ms.get("orders", []))
        probe = Latency.of([ms for st, ms in lv.probe if st == 200])
        rows.append(
            [
                lv.n,
                f"{fmt_ms(probe.p50)} / {fmt_ms(probe.p99)}",
                sum(1 for st, _ in lv.probe if st != 200),
                f"{fmt_ms(orders.p50)} / {fmt_ms(orders.p99)}",
                f"{fmt_ms(in_app.p50)} / {fmt_ms(in_app.p99)}",
                f"{fmt_ms(chat.p50)} / {fmt_ms(chat.p99)}",
                lv.statuses["orders"][200],
                lv.statuses["chat"][200],
                lv.status_count(503, "chat"),
                sum(lv.status_count(503, ep) for ep in ENDPOINTS if ep != "chat"),
                lv.status_count(429),
                lv.errors,
            ]
        )
    headers = [
        "N",
        "order look-up p50 / p99 ms (probe)",
        "probe non-200",
        "order look-up p50 / p99 ms (load shoppers)",
        "… of it in the app p50 / p99 ms",
        "chat p50 / p99 ms",
        "orders 200",
        "chats 200",
        "chat 503",
        "other 503",
        "429",
        "errors",
    ]
    return markdown_table(headers, rows)


def report(levels: list[LevelStats]) -> str:
    base = levels[0]
    rows = []
    for lv in levels:
        row = [
            lv.n,
            f"{lv.rps:.1f}",
            fmt_ratio(ratio(lv.rps, base.rps)),
        ]
        for ep in ENDPOINTS:
            lat = lv.latency(ep)
            row.append(f"{fmt_ms(lat.p50)} / {fmt_ms(lat.p99)}")
        row += [
            lv.ok,
            lv.shed,
            lv.errors,
            lv.client_errors,
            "yes" if lv.server_alive else "**no**",
        ]
        rows.append(row)
    headers = [
        "N",
        "req/s (2xx)",
        "vs N=1",
        *(f"{ep} p50/p99 ms" for ep in ENDPOINTS),
        "ok",
        "shed (429/503)",
        "errors (5xx/timeout)",
        "other 4xx",
        "server up",
    ]
    out = [admission_table(levels), "", markdown_table(headers, rows), ""]
    ratio_rows = []
    for lv in levels[1:]:
        ratio_rows.append(
            [lv.n]
            + [fmt_ratio(ratio(lv.latency(ep).p99, base.latency(ep).p99)) for ep in ENDPOINTS]
        )
    if ratio_rows:
        out += [
            f"p99 latency relative to N={base.n} (same run):",
            "",
            markdown_table(["N", *(f"{ep} p99" for ep in ENDPOINTS)], ratio_rows),
            "",
        ]
    detail = []
    for lv in levels:
        for ep in ENDPOINTS:
            st = ", ".join(f"{k}×{v}" for k, v in sorted(lv.statuses[ep].items()))
            fl = ", ".join(f"{k}×{v}" for k, v in sorted(lv.failures[ep].items()))
            detail.append([lv.n, ep, st or "–", fl or "–"])
    out += [
        "Status codes per endpoint:",
        "",
        markdown_table(["N", "endpoint", "statuses", "failures"], detail),
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--levels", default="1,64,128,256", help="concurrent shoppers per level")
    p.add_argument("--duration", type=float, default=15.0, help="seconds per level")
    p.add_argument("--data-dir", type=Path, help="an existing data dir (default: a fresh one)")
    p.add_argument("--llm", default="none", help="SHOPASSIST_LLM_BACKEND for the app")
    p.add_argument("--timeout", type=float, default=30.0, help="client timeout per request (s)")
    p.add_argument("--startup-timeout", type=float, default=600.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--ignore-retry-after",
        action="store_true",
        help="shoppers go straight on after a 429/503 instead of waiting Retry-After",
    )
    p.add_argument("--json", type=Path, help="also write the results as JSON")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an app setting, e.g. chat_max_in_flight=4 (sent as SHOPASSIST_NAME)",
    )
    args = p.parse_args(argv)
    env = {}
    for item in args.set:
        name, _, value = item.partition("=")
        env[f"SHOPASSIST_{name.strip().upper()}"] = value.strip()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    levels = [int(x) for x in args.levels.split(",") if x.strip()]

    data_dir, owned = prepare_data_dir(args.data_dir)
    secret = secrets.token_urlsafe(24)
    server = AppServer(data_dir, secret, args.llm, env=env)
    results: list[LevelStats] = []
    # The probe shopper's own process (spawned now, so it is ready when the first level runs).
    prober = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    prober.submit(time.sleep, 0).result()
    try:
        t = time.perf_counter()
        log.info("starting the app on %s (data dir %s)", server.url, data_dir)
        server.start(args.startup_timeout)
        startup_s = time.perf_counter() - t
        log.info("app healthy after %.1f s", startup_s)
        fx = load_fixtures(data_dir)
        driver = Driver(
            server.url, secret, fx, args.timeout, args.seed, not args.ignore_retry_after
        )
        # Warm-up, not counted: first look-ups fill caches (customer names, profiles).
        asyncio.run(driver.run_level(2, 3.0))
        cid = next(c for c in sorted(fx.orders_by_customer) if fx.orders_by_customer[c])
        for n in levels:
            log.info("level N=%d for %.0f s", n, args.duration)
            probe = prober.submit(
                probe_orders, server.url, secret, cid, fx.orders_by_customer[cid][0], args.duration
            )
            stats = asyncio.run(driver.run_level(n, args.duration))
            stats.probe = probe.result()
            stats.server_alive = server.alive()
            stats.server_rss_mb = server.rss_mb()
            results.append(stats)
            log.info("N=%d: %.1f req/s, shed %d, errors %d", n, stats.rps, stats.shed, stats.errors)
            if not stats.server_alive:
                log.error("the app died at N=%d; see %s", n, server.log_path)
                break
    finally:
        prober.shutdown()
        server.stop()
        if owned:
            shutil.rmtree(data_dir, ignore_errors=True)

    print("# Load benchmark\n")
    print(
        f"{args.duration:.0f} s per level, templates only (LLM backend {args.llm!r}), "
        f"client timeout {args.timeout:.0f} s; a visit = home, 1 events batch, 2 chat turns, "
        f"1 order look-up as a signed-in customer, no think time; after a 429/503 a shopper "
        f"{'goes straight on' if args.ignore_retry_after else 'waits Retry-After (+ ≤50 % jitter)'}. "
        f"App start-up (incl. indexing): {startup_s:.1f} s."
    )
    print(f"App settings: {', '.join(args.set) or 'defaults'}.\n")
    print(report(results))
    if args.json:
        args.json.write_text(
            json.dumps({"startup_s": startup_s, "levels": [r.as_json() for r in results]}, indent=2)
        )
    worst = results[-1] if results else None
    return 0 if worst and worst.server_alive and all(r.errors == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
