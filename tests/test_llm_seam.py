"""The LLM seam: registry, the scripted fake, and message conversion."""

from __future__ import annotations

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

from assistant.llm import ScriptedChatModel, available_backends, build_chat_model, register_backend
from assistant.llm.messages import apply_stop, to_role_dicts
from retrieval.settings import get_settings


@pytest.fixture
def settings(tmp_path):
    return get_settings(data_dir=tmp_path)


def test_builtin_backends_are_registered():
    assert {"local", "openai", "fake", "llamacpp"} <= set(available_backends())


def test_build_uses_settings_backend_and_override(settings):
    fake = build_chat_model(settings.model_copy(update={"llm_backend": "fake"}))
    assert isinstance(fake, ScriptedChatModel)
    assert isinstance(build_chat_model(settings, "fake"), BaseChatModel)


def test_local_backend_builds_lazily_without_loading(settings):
    model = build_chat_model(settings, "local")  # no weights touched until first call
    assert model._llm_type == "shopassist-local"
    assert model.generator._model is None


def test_register_backend_and_duplicates(settings):
    register_backend("test-echo", lambda s: ScriptedChatModel(lambda msgs: msgs[-1].text))
    try:
        assert build_chat_model(settings, "test-echo").invoke("ping").content == "ping"
        with pytest.raises(ValueError, match="already registered"):
            register_backend("test-echo", lambda s: ScriptedChatModel(["x"]))
    finally:
        from assistant.llm import _REGISTRY

        _REGISTRY.pop("test-echo", None)


def test_unknown_backend_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="unknown LLM backend 'nope'"):
        build_chat_model(settings, "nope")


def test_openai_backend_needs_url(settings):
    with pytest.raises(ValueError, match="LLM_BASE_URL"):
        build_chat_model(settings, "openai")


def test_scripted_list_in_order_then_repeats_last():
    m = ScriptedChatModel(["one", "two"])
    assert [m.invoke("q").content for _ in range(3)] == ["one", "two", "two"]
    assert len(m.calls) == 3


def test_scripted_streams_word_by_word():
    m = ScriptedChatModel(["Two fitting chairs, both under $200."])
    pieces = [c.content for c in m.stream("q") if c.content]
    assert pieces == ["Two ", "fitting ", "chairs, ", "both ", "under ", "$200."]
    assert "".join(pieces) == "Two fitting chairs, both under $200."


def test_scripted_callable_sees_conversation():
    m = ScriptedChatModel(lambda msgs: f"{len(msgs)} messages, last: {msgs[-1].text}")
    out = m.invoke([SystemMessage("sys"), HumanMessage("hello")])
    assert out.content == "2 messages, last: hello"


def test_scripted_tool_calls_survive_streaming():
    call = {"name": "search", "args": {"q": "stapler"}, "id": "c1", "type": "tool_call"}
    m = ScriptedChatModel([AIMessage(content="", tool_calls=[call])])
    assert m.invoke("q").tool_calls[0]["args"] == {"q": "stapler"}
    m2 = ScriptedChatModel([AIMessage(content="", tool_calls=[call])])
    full = None
    for c in m2.stream("q"):
        full = c if full is None else full + c
    assert full.tool_calls[0]["name"] == "search"
    assert full.tool_calls[0]["args"] == {"q": "stapler"}


def test_role_dicts_and_stop():
    msgs = [
        SystemMessage("s"),
        HumanMessage("h"),
        AIMessage("a"),
        ToolMessage("t", tool_call_id="1"),
    ]
    assert [d["role"] for d in to_role_dicts(msgs)] == ["system", "user", "assistant", "tool"]
    assert apply_stop("abc STOP def", ["STOP"]) == "abc "
    assert apply_stop("abc", None) == "abc"
