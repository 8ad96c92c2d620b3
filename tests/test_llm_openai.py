"""The OpenAI-compatible backend (langchain-openai's ChatOpenAI): the wire format and the error
mapping against a tiny scripted HTTP server on loopback, then the real llama.cpp HTTP server
embedded in the xllamacpp wheel with the packaged SmolLM2 (marked `model`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
from langchain_core.exceptions import ModelError
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage

from assistant.generate import generate_checked
from assistant.llm import LLMServiceError, OpenAIChatModel, build_chat_model, openai_chat_model
from assistant.validate import Verdict
from retrieval.settings import get_settings

from .llamacpp import start_llamacpp_server

ANSWER = "The Hon Pagoda chair is $150, within your budget."


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []
    flaky_failures = 0

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
        if body["model"] == "flaky" and type(self).flaky_failures > 0:
            type(self).flaky_failures -= 1
            return self._json(503, {"error": {"message": "warming up"}})
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
                    "usage": {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14},
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
        last = {"choices": [{"delta": {}, "finish_reason": "stop", "index": 0}]}
        self.wfile.write(f"data: {json.dumps(last)}\n\n".encode())
        if (body.get("stream_options") or {}).get("include_usage"):
            usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 9}}
            self.wfile.write(f"data: {json.dumps(usage)}\n\n".encode())
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model(url: str, **kw) -> OpenAIChatModel:
    kw.setdefault("max_retries", 0)
    return openai_chat_model(url, kw.pop("model", "m"), **kw)


def _join(chunks) -> AIMessageChunk:
    full = None
    for c in chunks:
        full = c if full is None else full + c
    assert full is not None
    return full


def test_invoke_wire_format_and_usage(server):
    out = _model(server, api_key="sk-test", max_tokens=33).invoke(
        [SystemMessage("s"), HumanMessage("chair?")]
    )
    assert out.content == ANSWER
    assert out.usage_metadata["input_tokens"] == 5 and out.usage_metadata["output_tokens"] == 9
    assert out.response_metadata["finish_reason"] == "stop"
    req = _Handler.requests[-1]
    assert req["auth"] == "Bearer sk-test"
    assert req["body"]["messages"] == [
        {"role": "system", "content": "s"},
        {"role": "user", "content": "chair?"},
    ]
    assert req["body"]["temperature"] == 0.0 and req["body"]["stream"] is False
    # every OpenAI-compatible server reads `max_tokens`; only newer ones the new name
    assert req["body"]["max_tokens"] == 33 and "max_completion_tokens" not in req["body"]


def test_no_key_sends_no_authorization_and_never_reads_the_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-meant-for-openai")
    assert _model(server).invoke("hi").content == ANSWER
    assert _Handler.requests[-1]["auth"] is None


def test_stream_sse_with_usage(server):
    chunks = list(_model(server).stream("chair?"))
    pieces = [c.content for c in chunks if c.content]
    assert len(pieces) == len(ANSWER.split(" "))
    assert "".join(pieces) == ANSWER
    full = _join(chunks)
    assert full.usage_metadata["output_tokens"] == 9
    body = _Handler.requests[-1]["body"]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stop_lists_default_and_per_call(server):
    _model(server, stop=["\n\n"]).invoke("hi")
    assert _Handler.requests[-1]["body"]["stop"] == ["\n\n"]
    _model(server).invoke("hi", stop=["END"])
    assert _Handler.requests[-1]["body"]["stop"] == ["END"]


def test_complete_json_sends_response_format_json_schema(server):
    from assistant.llm.structured import complete_json

    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    raw = complete_json(_model(server), [HumanMessage("chair?")], schema, max_tokens=17, slot=0)
    assert raw == ANSWER  # the scripted server ignores the schema; the text comes back raw
    body = _Handler.requests[-1]["body"]
    assert body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "commands", "schema": schema},
    }
    assert body["max_tokens"] == 17 and body["temperature"] == 0
    assert "slot" not in body and "id_slot" not in body
    with pytest.raises(LLMServiceError, match="HTTP 500"):
        complete_json(_model(server, model="broken"), [HumanMessage("x")], schema)


def test_a_slot_kwarg_never_reaches_the_server(server):
    model = _model(server)
    assert "".join(c.content for c in model.stream("chair?", slot=1)) == ANSWER
    assert "slot" not in _Handler.requests[-1]["body"]
    assert model.invoke("chair?", slot=0).content == ANSWER
    assert "slot" not in _Handler.requests[-1]["body"]


@pytest.mark.parametrize("suffix", ["", "/", "/chat/completions"])
def test_base_url_forms(server, suffix):
    assert _model(server + suffix).invoke("hi").content == ANSWER


def test_built_from_settings(server, tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", server)
    monkeypatch.setenv("LLM_MODEL", "m")
    settings = get_settings(data_dir=tmp_path, llm_timeout_s=7.5, llm_max_new_tokens=21)
    model = build_chat_model(settings, "openai")
    assert isinstance(model, OpenAIChatModel)
    assert model.request_timeout == 7.5 and model.max_retries == 0  # a turn has its own budget
    assert model.invoke("hi").content == ANSWER
    assert _Handler.requests[-1]["body"]["max_tokens"] == 21


def test_http_error_is_clear(server):
    with pytest.raises(LLMServiceError, match="HTTP 500: model exploded") as err:
        _model(server, model="broken").invoke("hi")
    assert err.value.status_code == 500 and err.value.is_retryable
    assert isinstance(err.value, ModelError) and isinstance(err.value, RuntimeError)
    assert isinstance(err.value.__cause__, openai.InternalServerError)
    with pytest.raises(LLMServiceError, match="HTTP 500: model exploded"):
        list(_model(server, model="broken").stream("hi"))


def test_async_errors_are_clear_too(server):
    async def run() -> None:
        with pytest.raises(LLMServiceError, match="HTTP 500"):
            await _model(server, model="broken").ainvoke("hi")
        with pytest.raises(LLMServiceError, match="HTTP 500"):
            [c async for c in _model(server, model="broken").astream("hi")]
        assert (await _model(server).ainvoke("hi")).content == ANSWER

    asyncio.run(run())


def test_timeout_is_clear(server):
    with pytest.raises(LLMServiceError, match=r"timed out after 0\.2s"):
        _model(server, model="slow", timeout_s=0.2).invoke("hi")


def test_unreachable_is_clear():
    with pytest.raises(LLMServiceError, match="cannot reach .*refused"):
        _model(f"http://127.0.0.1:{free_port()}/v1", timeout_s=2).invoke("hi")


def test_retries_come_from_the_client(server):
    _Handler.flaky_failures = 1
    with pytest.raises(LLMServiceError, match="HTTP 503: warming up"):
        _model(server, model="flaky").invoke("hi")
    _Handler.flaky_failures = 1
    before = len(_Handler.requests)
    assert _model(server, model="flaky", max_retries=1).invoke("hi").content == ANSWER
    assert len(_Handler.requests) - before == 2


# --- the real thing: llama.cpp's own HTTP server, from the xllamacpp wheel -------------------


@pytest.fixture(scope="module")
def llamacpp_server(tmp_path_factory) -> Iterator[tuple[str, str]]:
    # One thread holds its speed on a shared machine.
    server, base, key = start_llamacpp_server(
        get_settings().models_dir, n_ctx=2048, threads=1, warmup=False
    )
    yield base, key
    del server


QUESTION = [
    SystemMessage("You are a helpful shop assistant. Answer in one sentence."),
    HumanMessage("What is the capital of France?"),
]


@pytest.mark.model
def test_real_llamacpp_invoke_and_stream_agree(llamacpp_server):
    base, key = llamacpp_server
    llm = openai_chat_model(base, "smollm2", key, timeout_s=60, max_tokens=24, max_retries=0)
    whole = llm.invoke(QUESTION)
    assert whole.content.strip()
    assert 0 < whole.usage_metadata["output_tokens"] <= 24
    chunks = list(llm.stream(QUESTION))
    assert len([c for c in chunks if c.content]) > 1, "it really streamed"
    streamed = _join(chunks)
    assert streamed.content == whole.content  # greedy: the same text both ways
    assert streamed.usage_metadata["output_tokens"] == whole.usage_metadata["output_tokens"]


@pytest.mark.model
def test_real_llamacpp_max_tokens_and_stop(llamacpp_server):
    base, key = llamacpp_server
    short = openai_chat_model(base, "smollm2", key, max_tokens=3, max_retries=0).invoke(QUESTION)
    assert short.usage_metadata["output_tokens"] == 3
    assert short.response_metadata["finish_reason"] == "length"
    llm = openai_chat_model(base, "smollm2", key, max_tokens=24, max_retries=0)
    full = llm.invoke(QUESTION).content
    words = full.split()
    assert len(words) >= 3, full
    stop = words[2]  # greedy decoding repeats itself, so the cut is predictable
    cut = llm.invoke(QUESTION, stop=[stop]).content
    assert stop not in cut and full.startswith(cut)


@pytest.mark.model
def test_real_llamacpp_rejects_a_wrong_key(llamacpp_server):
    base, _ = llamacpp_server
    with pytest.raises(LLMServiceError, match="HTTP 401") as err:
        openai_chat_model(base, "smollm2", "wrong", max_tokens=4, max_retries=0).invoke("hi")
    assert err.value.status_code == 401
    with pytest.raises(LLMServiceError, match="HTTP 401"):
        openai_chat_model(base, "smollm2", None, max_tokens=4, max_retries=0).invoke("hi")


@pytest.mark.model
def test_real_llamacpp_through_generate_checked(llamacpp_server, tmp_path, monkeypatch):
    """What the agent does with the backend: stream, time the first token, count tokens.
    (The validator is not under test here: it accepts every sentence.)"""
    monkeypatch.setattr("assistant.generate.check", lambda sentence, facts: Verdict(True, [], []))
    base, key = llamacpp_server
    settings = get_settings(
        data_dir=tmp_path,
        llm_base_url=base,
        llm_model="smollm2",
        llm_api_key=key,
        llm_max_new_tokens=32,
    )
    llm = build_chat_model(settings, "openai")
    gen = generate_checked(
        llm,
        [("system", "Answer in one short sentence."), ("user", "Say hello to a shopper.")],
        facts=None,  # type: ignore[arg-type]
        deadline_s=60,
    )
    assert gen.error is None, gen.error
    assert gen.ttft_ms is not None and gen.ttft_ms > 0
    assert 0 < gen.tokens <= 32
