"""The `--backend` option the evaluation commands share, and the chat model it names."""

from __future__ import annotations

import argparse

from langchain_core.language_models import BaseChatModel

from retrieval.settings import Settings

BACKENDS = ["local", "openai", "llamacpp", "fake", "none"]


def add_backend_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="LLM backend (default: the configured one)",
    )


def chat_model(settings: Settings, backend: str) -> BaseChatModel | None:
    """The backend's model, or None for "none" (templates and rules only)."""
    if backend == "none":
        return None
    from assistant.llm import build_chat_model

    return build_chat_model(settings, backend)
