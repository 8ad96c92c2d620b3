"""llama.cpp's own HTTP server, from the xllamacpp wheel, for the tests that drive a real one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support import free_port


def start_llamacpp_server(
    models_dir: Path, *, n_ctx: int, threads: int, warmup: bool = True
) -> tuple[Any, str, str]:
    """The backend's server settings, listening on a free loopback port with the packaged
    SmolLM2 GGUF: (server, base URL, API key). Skips when the wheel or the model is not
    installed; the server runs until it is deleted."""
    xlc = pytest.importorskip("xllamacpp")
    from assistant.llm.llamacpp import server_params
    from assistant.llm.model_files import model_path

    try:
        gguf = model_path("smollm2", models_dir)
    except Exception as exc:
        pytest.skip(f"SmolLM2 GGUF unavailable: {exc}")
    params = server_params(gguf, threads=threads, n_ctx=n_ctx)
    params.warmup = warmup
    params.hostnames = ["127.0.0.1"]
    params.port = free_port()
    params.model_alias = "smollm2"
    return xlc.Server(params), f"http://127.0.0.1:{params.port}/v1", params.api_keys[0]
