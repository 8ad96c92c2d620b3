"""Errors the LLM seam raises, importable without importing any backend."""

from __future__ import annotations

from langchain_core.exceptions import ModelError


class LLMServiceError(ModelError, RuntimeError):
    """A model server could not be reached, timed out, or answered with an error.

    The message names the URL and the cause. The client's own exception, which LangChain has
    already classified (`ModelTimeoutError`, `ModelAPIError`, ...), is the `__cause__`, and its
    `is_retryable` is copied here. `status_code` is the HTTP status when the server answered.
    """

    def __init__(
        self, message: str, *, status_code: int | None = None, is_retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.is_retryable = is_retryable


class LLMBackendError(RuntimeError):
    """A registered backend (built-in or plugin) could not be loaded."""
