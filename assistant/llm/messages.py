"""LangChain messages <-> OpenAI-style role/content dicts (what chat templates and APIs take)."""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import BaseMessage

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


def to_role_dicts(messages: Sequence[BaseMessage]) -> list[dict[str, str]]:
    """Flatten messages to {"role", "content"} dicts; list contents keep their text parts only."""
    out: list[dict[str, str]] = []
    for m in messages:
        role = _ROLES.get(m.type, getattr(m, "role", None) or "user")
        out.append(
            {"role": role, "content": m.text if not isinstance(m.content, str) else m.content}
        )
    return out
