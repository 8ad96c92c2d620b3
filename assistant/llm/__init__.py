"""The generative-model seam: every backend is a LangChain BaseChatModel built by name.

    model = build_chat_model(settings)            # settings.llm_backend
    model = build_chat_model(settings, "fake")    # or pick one explicitly

Backends register a factory `settings -> BaseChatModel`; the built-in ones import their heavy
dependencies (torch, xllamacpp) only when built, so importing this package stays cheap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel

from assistant.llm.fake import ScriptedChatModel
from assistant.llm.model_files import ModelFileError

log = logging.getLogger(__name__)

Factory = Callable[[Any], BaseChatModel]
_REGISTRY: dict[str, Factory] = {}

__all__ = [
    "ModelFileError",
    "ScriptedChatModel",
    "available_backends",
    "build_chat_model",
    "register_backend",
]


def register_backend(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make `factory(settings)` buildable as backend `name`."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"LLM backend {name!r} is already registered")
    _REGISTRY[name] = factory


def available_backends() -> list[str]:
    return sorted(_REGISTRY)


def build_chat_model(settings: Any, backend: str | None = None) -> BaseChatModel:
    """The chat model for `backend` (default: settings.llm_backend)."""
    name = backend or settings.llm_backend
    try:
        factory = _REGISTRY[name]
    except KeyError as e:
        raise ValueError(f"unknown LLM backend {name!r}; known: {available_backends()}") from e
    log.info("building LLM backend %s", name)
    return factory(settings)


def _local(settings: Any) -> BaseChatModel:
    from assistant.llm.chat_local import LocalChatModel
    from assistant.llm.local import LocalGenerator

    return LocalChatModel(generator=LocalGenerator.from_settings(settings))


def _openai(settings: Any) -> BaseChatModel:
    from assistant.llm.openai_compat import OpenAICompatChatModel

    if not settings.llm_base_url or not settings.llm_model:
        raise ValueError("the openai backend needs LLM_BASE_URL and LLM_MODEL to be set")
    return OpenAICompatChatModel(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        timeout_s=settings.llm_timeout_s,
        max_tokens=settings.llm_max_new_tokens,
    )


def _fake(settings: Any) -> BaseChatModel:
    # Echo-free canned answer: the app runs end to end without any model.
    return ScriptedChatModel(["I can help with that."])


def _llamacpp(settings: Any) -> BaseChatModel:
    from assistant.llm.llamacpp import build_llamacpp

    return build_llamacpp(settings)


register_backend("local", _local)
register_backend("openai", _openai)
register_backend("fake", _fake)
register_backend("llamacpp", _llamacpp)  # optional: needs the xllamacpp wheel
