"""The OpenAI-compatible backend against a real (tiny) HTTP server on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.llm import build_chat_model
from assistant.llm.openai_compat import LLMServiceError, OpenAICompatChatModel
from retrieval.settings import get_settings

ANSWER = "The Hon Pagoda chair is $150, within your budget."


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"body": body, "auth": self.headers.get("Authorization")})
        if self.path != "/v1/chat/completions":
            return self._json(404, {"error": {"message": f"no route {self.path}"}})
        if body["model"] == "slow":
            time.sleep(1.0)
        if body["model"] == "broken":
            return self._json(500, {"error": {"message": "model exploded"}})
        if not body.get("stream"):
            return self._json(
                200,
                {
                    "choices": [
                        {
                            "message": {"role": "assistant", "content": ANSWER},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 5, "completion_tokens": 9},
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b": keep-alive\n\n")
        first = {"choices": [{"delta": {"role": "assistant"}, "index": 0}]}
        self.wfile.write(f"data: {json.dumps(first)}\n\n".encode())
        for word in ANSWER.split(" "):
            piece = word if word == ANSWER.split(" ")[0] else " " + word
            ev = {"choices": [{"delta": {"content": piece}, "index": 0}]}
            self.wfile.write(f"data: {json.dumps(ev)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data)  # the timeout test hangs up on purpose


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _model(url: str, **kw) -> OpenAICompatChatModel:
    return OpenAICompatChatModel(base_url=url, model=kw.pop("model", "m"), **kw)


def test_invoke(server):
    out = _model(server, api_key="sk-test").invoke([SystemMessage("s"), HumanMessage("chair?")])
    assert out.content == ANSWER
    req = _Handler.requests[-1]
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "chair?"},
    ]
    assert req["body"]["temperature"] == 0.0 and req["body"]["stream"] is False


def test_stream_sse(server):
    pieces = [c.content for c in _model(server).stream("chair?") if c.content]
    assert len(pieces) == len(ANSWER.split(" "))
    assert "".join(pieces) == ANSWER
    assert _Handler.requests[-1]["body"]["stream"] is True


def test_built_from_settings(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", server)
    monkeypatch.setenv("LLM_MODEL", "m")
    model = build_chat_model(get_settings(data_dir=tmp_path), "openai")
    assert model.invoke("hi").content == ANSWER


def test_http_error_is_clear(server):
    with pytest.raises(LLMServiceError, match="HTTP 500: model exploded"):
        _model(server, model="broken").invoke("hi")
    with pytest.raises(LLMServiceError, match="HTTP 500: model exploded"):
        list(_model(server, model="broken").stream("hi"))


def test_timeout_is_clear(server):
    with pytest.raises(LLMServiceError, match="timed out"):
        _model(server, model="slow", timeout_s=0.2).invoke("hi")


def test_unreachable_is_clear():
    with pytest.raises(LLMServiceError, match="cannot reach"):
        _model("http://127.0.0.1:9/v1", timeout_s=2).invoke("hi")
