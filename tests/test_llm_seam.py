"""The LLM seam: the backend registry and its entry points, the fakes, message conversion."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import textwrap

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage

import assistant.llm as llm_seam
from assistant.llm import (
    ENTRY_POINT_GROUP,
    LLMBackendError,
    ScriptedChatModel,
    available_backends,
    build_chat_model,
    refresh_backends,
    register_backend,
)
from assistant.llm.messages import to_role_dicts
from retrieval.settings import get_settings

BUILT_INS = {"local", "openai", "fake", "llamacpp"}


@pytest.fixture
def settings(tmp_path):
    return get_settings(data_dir=tmp_path)


@pytest.fixture
def clean_registry():
    """Undo whatever a test registers or discovers."""
    refresh_backends()  # forget loaded entry points: what stays was registered from code
    saved = dict(llm_seam._REGISTRY)
    yield
    llm_seam._REGISTRY.clear()
    llm_seam._REGISTRY.update(saved)
    refresh_backends()


def test_builtin_backends_come_from_entry_points():
    declared = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    assert set(declared) >= BUILT_INS, "pyproject's entry points (re-run `pip install -e .`)"
    assert all(declared[n].dist.metadata["Name"] == "shopassist" for n in BUILT_INS)
    assert set(available_backends()) >= BUILT_INS


def test_importing_the_seam_and_listing_backends_stays_cheap():
    code = textwrap.dedent(
        """
        import sys
        import assistant.llm as seam
        names = seam.available_backends()
        heavy = [m for m in ("torch", "transformers", "openai", "langchain_openai", "xllamacpp")
                 if m in sys.modules]
        print(sorted(names), heavy)
        assert not heavy, heavy
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr + out.stdout


def test_build_uses_settings_backend_and_override(settings):
    fake = build_chat_model(settings.model_copy(update={"llm_backend": "fake"}))
    assert isinstance(fake, GenericFakeChatModel)
    assert [fake.invoke("q").content for _ in range(2)] == ["I can help with that."] * 2
    assert isinstance(build_chat_model(settings, "fake"), BaseChatModel)


def test_local_backend_builds_lazily_without_loading(settings):
    model = build_chat_model(settings, "local")  # no weights touched until first call
    assert model._llm_type == "shopassist-local"
    assert model.generator._model is None


def test_register_backend_and_duplicates(settings, clean_registry):
    register_backend("test-echo", lambda s: ScriptedChatModel(lambda msgs: msgs[-1].text))
    assert "test-echo" in available_backends()
    assert build_chat_model(settings, "test-echo").invoke("ping").content == "ping"
    with pytest.raises(ValueError, match="already registered"):
        register_backend("test-echo", lambda s: ScriptedChatModel(["x"]))
    with pytest.raises(ValueError, match="already registered"):  # an entry point's name too
        register_backend("fake", lambda s: ScriptedChatModel(["x"]))
    register_backend("fake", lambda s: ScriptedChatModel(["replaced"]), replace=True)
    assert build_chat_model(settings, "fake").invoke("q").content == "replaced"


def _plugin(tmp_path, body: str, entry: str, dist: str = "shopassist_plugin_demo") -> None:
    """A real installed-looking distribution on sys.path: a module plus a dist-info whose
    entry_points.txt declares `entry` in the backend group."""
    (tmp_path / f"{dist}_mod.py").write_text(textwrap.dedent(body))
    info = tmp_path / f"{dist}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{entry}\n")


def test_a_third_party_backend_is_discovered_through_its_entry_point(
    settings, tmp_path, monkeypatch, clean_registry
):
    _plugin(
        tmp_path,
        """
        from assistant.llm import ScriptedChatModel
        LOADED = True

        def build(settings):
            return ScriptedChatModel([f"plugin says hi ({settings.llm_max_new_tokens})"])
        """,
        "plugin-echo = shopassist_plugin_demo_mod:build",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_backends()
    assert "plugin-echo" in available_backends()
    assert set(available_backends()) >= BUILT_INS
    assert "shopassist_plugin_demo_mod" not in sys.modules  # listed, not imported
    model = build_chat_model(settings, "plugin-echo")
    assert model.invoke("q").content == f"plugin says hi ({settings.llm_max_new_tokens})"
    # and selected through settings like a built-in
    chosen = settings.model_copy(update={"llm_backend": "plugin-echo"})
    assert build_chat_model(chosen).invoke("q").content.startswith("plugin says hi")
    monkeypatch.delitem(sys.modules, "shopassist_plugin_demo_mod")


def test_a_plugin_cannot_take_over_a_builtin_name(settings, tmp_path, monkeypatch, clean_registry):
    _plugin(
        tmp_path,
        """
        def build(settings):
            raise AssertionError("the plugin's 'fake' must not win over shopassist's")
        """,
        "fake = shopassist_plugin_demo_mod:build",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    refresh_backends()
    assert build_chat_model(settings, "fake").invoke("q").content == "I can help with that."


def test_broken_plugins_are_clear_errors(settings, monkeypatch, clean_registry):
    eps = importlib.metadata.EntryPoints(
        [
            importlib.metadata.EntryPoint("gone", "no_such_module_xyz:build", ENTRY_POINT_GROUP),
            importlib.metadata.EntryPoint("wrong-type", "math:pi", ENTRY_POINT_GROUP),
            importlib.metadata.EntryPoint("not-a-model", "builtins:dict", ENTRY_POINT_GROUP),
        ]
    )
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: eps)
    refresh_backends()
    assert available_backends() == ["gone", "not-a-model", "wrong-type"]
    with pytest.raises(LLMBackendError, match="'gone' .*failed to load"):
        build_chat_model(settings, "gone")
    with pytest.raises(LLMBackendError, match="not callable"):
        build_chat_model(settings, "wrong-type")
    with pytest.raises(LLMBackendError, match="not a BaseChatModel"):
        build_chat_model(settings, "not-a-model")


def test_unknown_backend_is_a_clear_error(settings):
    with pytest.raises(ValueError, match="unknown LLM backend 'nope'"):
        build_chat_model(settings, "nope")


def test_openai_backend_needs_url(settings):
    with pytest.raises(ValueError, match="LLM_BASE_URL"):
        build_chat_model(settings, "openai")


def test_scripted_list_in_order_then_repeats_last():
    m = ScriptedChatModel(["one", "two"])
    assert isinstance(m, GenericFakeChatModel)
    assert [m.invoke("q").content for _ in range(3)] == ["one", "two", "two"]
    assert len(m.calls) == 3


def test_scripted_streams_like_langchains_fake():
    m = ScriptedChatModel(["Two fitting chairs, both under $200."])
    pieces = [c.content for c in m.stream("q") if c.content]
    assert pieces[:3] == ["Two", " ", "fitting"]
    assert "".join(pieces) == "Two fitting chairs, both under $200."
    assert len(m.calls) == 1


def test_scripted_callable_sees_conversation():
    m = ScriptedChatModel(lambda msgs: f"{len(msgs)} messages, last: {msgs[-1].text}")
    out = m.invoke([SystemMessage("sys"), HumanMessage("hello")])
    assert out.content == "2 messages, last: hello"
    assert m.calls[0][1].text == "hello"


def test_scripted_empty_script_is_an_error():
    with pytest.raises(ValueError, match="empty script"):
        ScriptedChatModel([]).invoke("q")


def test_scripted_tool_calls_survive_streaming():
    call = {"name": "search", "args": {"q": "stapler"}, "id": "c1", "type": "tool_call"}
    m = ScriptedChatModel([AIMessage(content="", tool_calls=[call])])
    assert m.bind_tools([]) is m
    assert m.invoke("q").tool_calls[0]["args"] == {"q": "stapler"}
    for text in ("", "Let me look that up."):
        m2 = ScriptedChatModel([AIMessage(content=text, tool_calls=[call])])
        full = None
        for c in m2.stream("q"):
            full = c if full is None else full + c
        assert full.content == text
        assert full.tool_calls[0]["name"] == "search"
        assert full.tool_calls[0]["args"] == {"q": "stapler"}


def test_role_dicts():
    msgs = [
        SystemMessage("s"),
        HumanMessage("h"),
        AIMessage("a"),
        ToolMessage("t", tool_call_id="1"),
    ]
    assert [d["role"] for d in to_role_dicts(msgs)] == ["system", "user", "assistant", "tool"]
