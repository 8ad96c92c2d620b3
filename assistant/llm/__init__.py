"""The generative-model seam: every backend is a LangChain BaseChatModel built by name.

    model = build_chat_model(settings)            # settings.llm_backend
    model = build_chat_model(settings, "fake")    # or pick one explicitly

A backend is a factory `(Settings) -> BaseChatModel`. Backends come from the Python entry-point
group `shopassist.llm_backends` (the simonw/llm plugin seam): the built-in ones (`local`,
`llamacpp`, `openai`, `fake`) are declared there in shopassist's own pyproject.toml, and a
third-party distribution adds one the same way:

    [project.entry-points."shopassist.llm_backends"]
    mybackend = "my_package.module:build"

`register_backend()` adds one from code. Discovery reads installed metadata only; a backend's
module is imported when that backend is first built, so importing this package stays cheap
(no torch, no openai).
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel

from assistant.llm.errors import LLMBackendError, LLMServiceError
from assistant.llm.fake import ScriptedChatModel
from assistant.llm.model_files import ModelFileError

if TYPE_CHECKING:
    from assistant.llm.openai_chat import OpenAIChatModel, openai_chat_model
    from retrieval.settings import Settings

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "shopassist.llm_backends"
OWN_DISTRIBUTION = "shopassist"

Factory = Callable[["Settings"], BaseChatModel]
_REGISTRY: dict[str, Factory] = {}  # registered from code, or entry points already loaded
_LOADED: dict[str, Factory] = {}  # the entry-point factories among them
_ENTRY_POINTS: dict[str, importlib.metadata.EntryPoint] | None = None
_LOCK = threading.Lock()

__all__ = [
    "ENTRY_POINT_GROUP",
    "LLMBackendError",
    "LLMServiceError",
    "ModelFileError",
    "OpenAIChatModel",
    "ScriptedChatModel",
    "available_backends",
    "build_chat_model",
    "openai_chat_model",
    "refresh_backends",
    "register_backend",
]


def __getattr__(name: str) -> Any:
    # The OpenAI-compatible client imports openai and langchain-openai: only on demand.
    if name in ("openai_chat_model", "OpenAIChatModel"):
        from assistant.llm import openai_chat

        return getattr(openai_chat, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _dist_name(ep: importlib.metadata.EntryPoint) -> str:
    dist = ep.dist
    return dist.metadata["Name"] if dist is not None else "?"


def _discover() -> dict[str, importlib.metadata.EntryPoint]:
    """The group's entry points by name, read once from installed metadata (nothing imported).

    A name two distributions declare goes to shopassist's own, else to the first found.
    """
    global _ENTRY_POINTS
    with _LOCK:
        if _ENTRY_POINTS is None:
            found: dict[str, importlib.metadata.EntryPoint] = {}
            for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                prev = found.get(ep.name)
                if prev is None or prev.value == ep.value:
                    found[ep.name] = ep
                    continue
                keep = ep if _dist_name(ep) == OWN_DISTRIBUTION else prev
                log.warning(
                    "LLM backend %r is declared by %s (%s) and by %s (%s); using %s",
                    ep.name,
                    _dist_name(prev),
                    prev.value,
                    _dist_name(ep),
                    ep.value,
                    keep.value,
                )
                found[ep.name] = keep
            _ENTRY_POINTS = found
        return _ENTRY_POINTS


def refresh_backends() -> None:
    """Forget discovered entry points (e.g. after installing a plugin into a running process).

    Backends registered from code stay; entry-point backends already built are re-read.
    """
    global _ENTRY_POINTS
    with _LOCK:
        for name, factory in _LOADED.items():
            if _REGISTRY.get(name) is factory:
                del _REGISTRY[name]
        _LOADED.clear()
        _ENTRY_POINTS = None


def register_backend(name: str, factory: Factory, *, replace: bool = False) -> None:
    """Make `factory(settings)` buildable as backend `name` (also over an entry point, with
    `replace=True`)."""
    if not replace and (name in _REGISTRY or name in _discover()):
        raise ValueError(f"LLM backend {name!r} is already registered")
    _REGISTRY[name] = factory


def available_backends() -> list[str]:
    """Every backend name, from code and from entry points; nothing is imported."""
    return sorted(set(_REGISTRY) | set(_discover()))


def _factory(name: str) -> Factory:
    if name in _REGISTRY:
        return _REGISTRY[name]
    ep = _discover().get(name)
    if ep is None:
        hint = "" if _discover() else " (no entry points found: is shopassist installed?)"
        raise ValueError(f"unknown LLM backend {name!r}; known: {available_backends()}{hint}")
    try:
        factory = ep.load()
    except Exception as e:
        raise LLMBackendError(
            f"LLM backend {name!r} ({ep.value}, from {_dist_name(ep)}) failed to load: {e}"
        ) from e
    if not callable(factory):
        raise LLMBackendError(f"LLM backend {name!r} ({ep.value}) is not callable")
    _REGISTRY[name] = _LOADED[name] = factory
    return factory


def build_chat_model(settings: Settings, backend: str | None = None) -> BaseChatModel:
    """The chat model for `backend` (default: settings.llm_backend)."""
    name = backend or settings.llm_backend
    factory = _factory(name)
    log.info("building LLM backend %s", name)
    model = factory(settings)
    if not isinstance(model, BaseChatModel):
        raise LLMBackendError(
            f"LLM backend {name!r} returned {type(model).__name__}, not a BaseChatModel"
        )
    return model
