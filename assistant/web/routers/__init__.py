"""One `APIRouter` per concern; `assistant.web.app` includes them under /api."""
