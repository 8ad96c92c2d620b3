"""Privacy export and delete on a private copy of the store (deletion must not leak into others)."""

import pytest

from assistant.agent import Agent
from assistant.conversation import ConversationState
from assistant.privacy import UnknownShopper, delete_user, export_user
from retrieval.events import user_events
from retrieval.home import build_home

from .conftest import build_stack, make_settings

USER = "DV-13045"


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory, encoder):
    return build_stack(make_settings(tmp_path_factory.mktemp("privacy")), encoder)


def test_export_then_delete(own_stack):
    svc = own_stack.recommendations()
    product = own_stack.catalogue.products[5].id
    svc.record([{"user_id": USER, "type": "click", "product_id": product, "session_id": "s"}])
    Agent(own_stack, None).turn(ConversationState(user_id=USER), "my email is x@y.com, binders?")
    data = export_user(own_stack, USER)
    assert data["customer"]["name"] and data["orders"]
    assert any(e["type"] == "click" for e in data["events"])
    assert any(e["origin"] == "seed" for e in data["events"])
    logs = data["chat_logs"]
    assert logs and all("x@y.com" not in r["text"] for r in logs), "PII is redacted in logs"
    assert not build_home(svc, USER).cold_start

    report = delete_user(own_stack, USER)
    assert report.events >= 2 and report.chat_logs >= 2
    assert user_events(own_stack.db, USER) == []
    after = export_user(own_stack, USER)
    assert after["events"] == [] and after["chat_logs"] == [] and after["tickets"] == []
    assert after["orders"], "orders are business records and stay"
    assert build_home(svc, USER).cold_start, "the profile (and its vector) is gone"


def test_unknown_user(own_stack):
    with pytest.raises(UnknownShopper):
        export_user(own_stack, "NOBODY-1")
    with pytest.raises(UnknownShopper):
        delete_user(own_stack, "NOBODY-1")
