"""The turn layer: one handler per intent, each taking a `TurnContext`.

Handlers live per concern (shopping, service, small talk) and get what they need through
`TurnDeps`; the `Agent` only runs guards → route → handler → reply.
"""

from .context import TurnContext, TurnDeps
from .handlers import HANDLERS, Handler

__all__ = ["HANDLERS", "Handler", "TurnContext", "TurnDeps"]
