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


def apply_stop(text: str, stop: Sequence[str] | None) -> str:
    """Cut `text` at the first stop string (for backends that cannot stop by themselves)."""
    if not stop:
        return text
    cut = min((i for s in stop if (i := text.find(s)) >= 0), default=len(text))
    return text[:cut]
