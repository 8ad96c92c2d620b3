"""The real packaged SmolLM2 through the local backend (marked `model`: slow, needs the wheel)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage, SystemMessage

from assistant.llm import build_chat_model
from retrieval.settings import get_settings

pytestmark = pytest.mark.model
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def local_chat(tmp_path_factory):
    # Reuse the app's converted-weight cache when set-up made one (0.5 s instead of ~30 s).
    data = Path(os.environ.get("SHOPASSIST_DATA_DIR", REPO / "data"))
    if not os.access(data if data.exists() else data.parent, os.W_OK):
        data = tmp_path_factory.mktemp("llm-data")
    settings = get_settings(data_dir=data, llm_max_new_tokens=24)
    model = build_chat_model(settings, "local")
    model.generator.load()
    return model


def test_greedy_is_deterministic_and_streams(local_chat):
    msgs = [
        SystemMessage("You are a helpful shop assistant. Answer in one sentence."),
        HumanMessage("What is the capital of France?"),
    ]
    first = local_chat.invoke(msgs).content
    assert first.strip(), "the model produced text"  # a 135M model's facts are not tested
    assert local_chat.invoke(msgs).content == first
    pieces = [c.content for c in local_chat.stream(msgs)]
    assert len([p for p in pieces if p]) > 1
    assert "".join(pieces) == first
    stats = local_chat.generator.stats
    assert 0 < stats.new_tokens <= 24 and stats.prompt_tokens > 10


def test_stop_strings_cut_the_answer(local_chat):
    msgs = [HumanMessage("What is the capital of France?")]
    full = local_chat.invoke(msgs).content
    cut = local_chat.invoke(msgs, stop=["Paris"]).content
    assert "Paris" in full and "Paris" not in cut and full.startswith(cut)
