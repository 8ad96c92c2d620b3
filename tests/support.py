"""What the tests share besides fixtures: the demo customer, shopper tokens, one runtime
factory, and the app under a real server (a subprocess, or a thread of this process).

Fixtures built on these live in `conftest.py`. `bench/load.py` imports `AppServer` from here.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent

SECRET = "test-widget-secret"
CUSTOMER = "CG-12520"  # Claire Gute: real orders (CA-2016-152156, Nov 2016, and more)


def auth(user: str = CUSTOMER, secret: str = SECRET, ttl: int = 600) -> dict[str, str]:
    """`Authorization` headers with a shopper token signed by `secret`."""
    from assistant.web.identity import issue_token

    return {"Authorization": f"Bearer {issue_token(secret, user, ttl)}"}


def make_runtime(settings, stack, llm=None):
    """A Runtime over an already built stack, wired as `Runtime.build` wires one."""
    from assistant.runtime import Runtime

    return Runtime.over(stack, llm, settings)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, deadline: float, alive=lambda: True) -> None:
    """Until GET /api/health answers 200 (the app warms its services before it listens)."""
    last: Any = None
    while time.monotonic() < deadline:
        if not alive():
            raise RuntimeError("the server exited while starting")
        try:
            resp = httpx.get(f"{url}/api/health", timeout=5)
            if resp.status_code == 200:
                return
            last = resp.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.25)
    raise RuntimeError(f"{url} was not healthy in time (last: {last!r})")


class AppServer:
    """`uvicorn app:create_app --factory` in a subprocess, configured through the environment."""

    def __init__(
        self,
        data_dir: Path,
        secret: str = SECRET,
        llm_backend: str = "none",
        port: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.data_dir, self.secret = data_dir, secret
        self.llm_backend = llm_backend
        self.port = port or free_port()
        self.extra_env = env or {}
        self.proc: subprocess.Popen | None = None
        self._log: Any = None
        # Outside the data dir: it outlives a temporary one, for a post-mortem.
        self.log_path = Path(tempfile.gettempdir()) / f"shopassist-app-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 180.0) -> None:
        env = {
            **os.environ,
            "SHOPASSIST_DATA_DIR": str(self.data_dir),
            "SHOPASSIST_LLM_BACKEND": self.llm_backend,
            "SHOPASSIST_WIDGET_SECRET": self.secret,
            "SHOPASSIST_HOST": "127.0.0.1",
            "SHOPASSIST_PORT": str(self.port),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "ANONYMIZED_TELEMETRY": "False",
            "GRADIO_ANALYTICS_ENABLED": "False",
            **self.extra_env,
        }
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",  # one log line per request would cost the server CPU
        ]
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=self._log)
        try:
            wait_healthy(self.url, time.monotonic() + timeout_s, self.alive)
        except RuntimeError as exc:
            code = self.proc.poll()
            raise RuntimeError(f"{exc}; exit code {code}; see {self.log_path}") from None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no goodbye to the clients."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()

    def rss_mb(self) -> float:
        """The server's resident memory (Linux /proc; 0 elsewhere)."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text() if self.proc else ""
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


class ThreadedServer:
    """An app object (e.g. `create_app(settings, runtime)`) under uvicorn in a daemon thread,
    so a test can drive it over real HTTP and still inspect the runtime it serves."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> None:
        self.thread.start()
        wait_healthy(self.url, time.monotonic() + timeout_s, self.thread.is_alive)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
