"""The checks that catch a small model's misreadings before anything runs, and the reply
checks that catch its narration and copied prompt text. Pure functions: no model, no store."""

from __future__ import annotations

from assistant.commands.check import Screen, check_commands
from assistant.commands.schema import (
    AskAbout,
    Clarify,
    OrderStatus,
    PolicyQuestion,
    Refine,
    Search,
)
from assistant.commands.understand import with_parsed_slots
from assistant.prompts import PromptLibrary, system_prompt_runs
from assistant.turn.grounded import ItemRefs
from assistant.validate import NARRATION, word_runs
from retrieval.constraints import Constraints, Vocabulary
from retrieval.sources.base import Product

VOCAB = Vocabulary(
    categories=frozenset({"Furniture", "Office Supplies", "Technology"}),
    sub_categories=frozenset({"Chairs", "Binders", "Paper", "Bookcases"}),
    brands=frozenset({"Hon", "Avery"}),
    name_words=frozenset({"chair", "binder", "paper", "bookcase", "lamp", "desk", "copier"}),
)
NOTHING = Screen(())
TWO_CHAIRS = Screen(("Chairs", "Chairs"), last_intent="recommend")


def checked(cmd, message, screen=NOTHING):
    cmds, notes = check_commands([cmd], screen, VOCAB, message)
    return cmds, notes


def test_an_empty_or_invented_query_becomes_the_shoppers_words():
    (cmd,), _ = checked(Search(query=""), "I'm looking for an office chair")
    assert isinstance(cmd, Search) and "chair" in cmd.query
    # "desk chair" copied from the prompt's examples: the shopper said "office chair".
    (cmd,), _ = checked(Search(query="desk chair"), "I'm looking for an office chair")
    assert "desk" not in cmd.query and "office chair" in cmd.query
    (cmd,), _ = checked(Search(query="office chair"), "I'm looking for an office chair")
    assert cmd.query == "office chair"


def test_a_department_the_shopper_did_not_name_is_not_a_filter():
    (cmd,), _ = checked(
        Search(query="office chair", categories=["Office Supplies", "Chairs"]),
        "I'm looking for an office chair",
    )
    assert cmd.categories == ["Chairs"]
    (cmd,), _ = checked(Search(query="desk", categories=["Furniture"]), "furniture for my desk")
    assert cmd.categories == ["Furniture"]


def test_sort_and_attributes_need_the_shoppers_words():
    (cmd,), _ = checked(
        Search(query="binders", sort="price_desc", attributes=["black"]), "binders please"
    )
    assert cmd.sort is None and cmd.attributes == []
    (cmd,), _ = checked(
        Search(query="binders", sort="price_asc", attributes=["black"]),
        "the cheapest black binders",
    )
    assert cmd.sort == "price_asc" and cmd.attributes == ["black"]


def test_a_refinement_must_change_something_the_shopper_said():
    cmds, notes = checked(Refine(price_direction="cheaper"), "printer paper", TWO_CHAIRS)
    assert cmds == [] and "changes nothing" in " ".join(notes)
    (cmd,), _ = checked(Refine(price_direction="cheaper"), "anything cheaper?", TWO_CHAIRS)
    assert isinstance(cmd, Refine) and cmd.price_direction == "cheaper"
    (cmd,), _ = checked(Refine(exclude_brand_of=1), "not that brand", TWO_CHAIRS)
    assert cmd.exclude_brand_of == 1
    (cmd,), _ = checked(Refine(), "show me more", TWO_CHAIRS)
    assert isinstance(cmd, Refine)


def test_a_refinement_with_nothing_on_screen_is_a_search():
    message = "I need binders under $30"
    (cmd,), _ = checked(with_parsed_slots([Refine()], message, VOCAB)[0], message)
    assert isinstance(cmd, Search) and cmd.query == "binders" and cmd.max_price == 30


def test_a_follow_up_yields_to_another_service_question():
    after_status = Screen((), last_intent="order_status")
    cmds, _ = checked(OrderStatus(), "what was in it?", after_status)
    assert [c.type for c in cmds] == ["order_status"]
    cmds, _ = checked(OrderStatus(), "what's your return window?", after_status)
    assert cmds == []
    cmds, _ = checked(PolicyQuestion(question="return window"), "what's your return window?")
    assert [c.type for c in cmds] == ["policy_question"]


def test_cheaper_than_an_item_is_a_strict_bound_at_its_real_price():
    c = Constraints(max_price=57.98, max_exclusive=True)
    assert c.describe() == "under $57.98"
    assert not c.matches({"price": 57.98}) and c.matches({"price": 57.97})
    assert c.to_where() == {"price": {"$lt": 57.98}}
    budget = Constraints(max_price=150.0)
    assert budget.matches({"price": 150.0})
    merged = c.merged_with(Constraints(text="chairs"))
    assert merged.max_exclusive and merged.max_price == 57.98


def test_narration_and_ai_talk_are_not_replies():
    for bad in (
        "The shopper chose [1] for their office.",
        "The user prefers a modern chair.",
        "I'm not a product-specific AI.",
    ):
        assert NARRATION.search(bad), bad
    for good in ("You might like [1] for long hours.", "Customers can return items in 30 days."):
        assert not NARRATION.search(good), good


def test_copying_a_system_prompt_run_is_caught_however_it_is_punctuated():
    runs = system_prompt_runs(PromptLibrary())
    said = "Sure! I'm a friendly, concise shop assistant at this store."
    assert word_runs(said) & runs
    assert not word_runs("This chair has padded adjustable arms and a mesh back.") & runs


def test_a_name_rendered_twice_is_shown_once():
    chair = Product("C1", "High-Back Leather Manager's Chair", "Furniture", "Chairs", 129.99, "t")
    refs = ItemRefs.of([chair])
    assert refs.render("[1] High-Back Leather Manager's Chair is comfy.") == (
        "High-Back Leather Manager's Chair is comfy."
    )
    assert refs.render("Try [1].") == "Try High-Back Leather Manager's Chair."


def test_a_search_for_nothing_is_a_question():
    (cmd,), _ = checked(Search(query="what about that one"), "what about that one?", TWO_CHAIRS)
    assert isinstance(cmd, Clarify) and "which one do you mean" in cmd.question
    (cmd,), _ = checked(Search(query="something nice"), "something nice")
    assert isinstance(cmd, Clarify)


def test_an_attribute_alone_refines_what_is_on_screen():
    (cmd,), _ = checked(Search(query="in black"), "in black", TWO_CHAIRS)
    assert isinstance(cmd, Refine) and cmd.attributes == ["black"]


def test_a_question_about_items_with_none_shown_but_a_product_named_is_a_search():
    (cmd,), _ = checked(AskAbout(items=[1], question="copiers?"), "do you have any copiers?")
    assert isinstance(cmd, Search) and "copier" in cmd.query
    (cmd,), _ = checked(AskAbout(items=[2], question="good?"), "is the second one any good?")
    assert isinstance(cmd, Clarify)


def test_a_product_request_is_no_follow_up_of_an_order_question():
    after_status = Screen((), last_intent="order_status")
    cmds, _ = checked(OrderStatus(), "fine, I'd like a desk lamp then", after_status)
    assert cmds == []


def test_a_search_that_names_no_product_is_left_to_the_rules():
    cmds, notes = checked(Search(query=""), "what did I order last time?")
    assert cmds == [] and "service question" in " ".join(notes)
    message = "anything under $30"  # no product, but a budget: a search
    (cmd,), _ = checked(with_parsed_slots([Search(query="")], message, VOCAB)[0], message)
    assert isinstance(cmd, Search) and cmd.max_price == 30


def test_the_parsers_head_noun_category_fills_the_models_empty_slot():
    message = "conference tables under $5"
    vocab = Vocabulary(sub_categories=frozenset({"Tables"}), name_words=frozenset({"table"}))
    (cmd,) = with_parsed_slots([Search(query="conference tables")], message, vocab)
    assert cmd.categories == ["Tables"] and cmd.max_price == 5
