"""The built-in backends' factories, declared as `shopassist.llm_backends` entry points in
pyproject.toml and loaded exactly like a third party's. Each imports its heavy dependencies
(torch, xllamacpp, openai) only when called, so loading this module stays cheap."""

from __future__ import annotations

from typing import TYPE_CHECKING

from langchain_core.language_models import BaseChatModel

if TYPE_CHECKING:
    from retrieval.settings import Settings


def build_local(settings: Settings) -> BaseChatModel:
    """In-process transformers over the packaged GGUF (weights load on first use)."""
    from assistant.llm.chat_local import LocalChatModel
    from assistant.llm.local import LocalGenerator

    return LocalChatModel(generator=LocalGenerator.from_settings(settings))


def build_llamacpp(settings: Settings) -> BaseChatModel:
    """In-process llama.cpp through the optional `xllamacpp` wheel."""
    from assistant.llm.llamacpp import build_llamacpp

    return build_llamacpp(settings)


def build_openai(settings: Settings) -> BaseChatModel:
    """Any OpenAI-compatible server at LLM_BASE_URL, through langchain-openai's ChatOpenAI."""
    from assistant.llm.openai_chat import openai_chat_model

    if not settings.llm_base_url or not settings.llm_model:
        raise ValueError("the openai backend needs LLM_BASE_URL and LLM_MODEL to be set")
    return openai_chat_model(
        base_url=settings.llm_base_url,
        model=settings.llm_model,
        api_key=settings.llm_api_key,
        timeout_s=settings.llm_timeout_s,
        max_tokens=settings.llm_max_new_tokens,
        # A turn has a few seconds' budget and templates answer when the model fails, so
        # retries default to none (each one could wait another llm_timeout_s).
        max_retries=settings.llm_max_retries,
    )


def build_fake(settings: Settings) -> BaseChatModel:
    """No model at all: a canned, fact-free answer, so the app runs end to end."""
    from assistant.llm.fake import canned_chat_model

    return canned_chat_model("I can help with that.")
