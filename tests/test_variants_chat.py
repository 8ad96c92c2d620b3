"""Search and chat understand variants: option words are read against the store's own variant
options, answers come from the variants table (price and availability of each version), and a
version that cannot be bought is said to be unavailable, never offered. The retail store (tau2
data) has options; a store with one version per product has none, and nothing changes there."""

from __future__ import annotations

import re

import numpy as np
import pytest

from assistant.agent import Agent
from assistant.commands.rules import fast_path
from assistant.commands.schema import AskAbout, Refine
from assistant.conversation import ConversationState
from assistant.llm import ScriptedChatModel
from assistant.router import Route
from retrieval.catalogue import CatalogueIndex
from retrieval.constraints import parse
from retrieval.sources.base import Product, Variant
from retrieval.variants import OptionIndex, fit_variants, load_variants

from .conftest import build_stack, make_settings

BOTTLE = "8310926033"  # Water Bottle: capacity, material, colour
TSHIRT = "9523456873"  # T-Shirt: colour, size, material, style


def _v(vid: str, price: float, available: bool = True, **options: str) -> Variant:
    return Variant(vid, "p1", price, options, available)


MUG = [
    _v("a", 10.0, color="blue", capacity="1000ml", size="M"),
    _v("b", 11.0, False, color="blue", capacity="500ml", size="L"),
    _v("c", 12.0, color="red", capacity="1000ml", size="M"),
    _v("d", 13.0, False, color="blue", capacity="1000ml", size="L"),
]
INDEX = OptionIndex.build(
    {(k, v) for var in MUG for k, v in var.options.items()} | {("type", "electric")},
    ["Electric Kettle", "Mug"],
)


# The option reader, on its own ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "labels"),
    [
        ("a mug in blue, 1000ml", ["blue", "1000ml"]),
        ("a 1 liter mug in BLUE", ["1000ml", "blue"]),  # units and case fold
        ("1000 ml", ["1000ml"]),
        ("do you have it in size M?", ["size M"]),
        ("a medium mug", ["size M"]),  # written out
        ("I'm from the UK, m8", []),  # a bare "m" is no size
        ("not blue please", []),  # negated
        ("an electric kettle", []),  # inside a product's name
        ("a kettle that is electric", ["electric"]),
    ],
)
def test_option_words_are_read_against_the_stores_own_values(text, labels):
    assert [m.label for m in INDEX.find(text)] == labels


def test_a_store_without_options_reads_nothing():
    empty = OptionIndex.build([], ["Blue Binder"])
    assert not empty and empty.find("a binder in blue, size M") == []


def test_fit_names_matches_and_what_can_be_bought_instead():
    fit = fit_variants(MUG, INDEX.find("blue 1000ml"))
    assert fit is not None and [v.id for v in fit.matches] == ["a", "d"]
    assert [v.id for v in fit.available] == ["a"] and not fit.missing
    none_buyable = fit_variants(MUG, INDEX.find("blue, size L"))
    assert none_buyable is not None and not none_buyable.available
    assert ("color", ("red",), "size L") not in none_buyable.instead  # red L does not exist
    assert ("size", ("M",), "blue") in none_buyable.instead  # blue can be had in M
    missing = fit_variants(MUG, INDEX.find("size M in electric"))
    assert missing is not None and [m.label for m in missing.missing] == ["electric"]


def test_a_number_with_a_unit_is_not_a_budget():
    c = parse("what about 750ml?")
    assert c.min_price is None and c.max_price is None
    assert parse("something around 40").max_price == 50.0  # a bare number still is


def test_one_version_stores_keep_the_old_understanding():
    """No options in the catalogue: no variant command, no variant tool call, ever."""
    p = Product("p1", "Blue Binder", "Office Supplies", "Binders", 5.0, "superstore")
    vocab = CatalogueIndex([p], np.zeros((1, 384), np.float32)).vocabulary
    assert not vocab.options
    route = Route("search", 0.5, "embedding")
    assert fast_path(route, "do you have this in size M?", 3, vocab) is None


# On the retail store ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def retail(tmp_path_factory, encoder):
    settings = make_settings(
        tmp_path_factory.mktemp("retail-variants"), catalogue="retail", llm_backend="none"
    )
    return build_stack(settings, encoder)


@pytest.fixture(scope="module")
def agent(retail) -> Agent:
    return Agent(retail, None)


@pytest.fixture(scope="module")
def versions(retail) -> dict[str, list[Variant]]:
    return load_variants(retail.db, [BOTTLE, TSHIRT])


def _prices(text: str) -> set[float]:
    return {float(m.replace(",", "")) for m in re.findall(r"\$(\d[\d,]*\.\d\d)", text)}


def test_search_names_the_versions_asked_for(agent, retail, versions):
    reply = agent.turn(ConversationState(), "the water bottle in blue, 1000ml")
    card = reply.products[0]
    assert card.name == "Water Bottle"
    wanted = [
        v
        for v in versions[BOTTLE]
        if v.options["color"] == "blue" and v.options["capacity"] == "1000ml"
    ]
    assert {v["id"] for v in card.variants} == {v.id for v in wanted}
    assert not any(v.available for v in wanted)  # the data: none can be bought
    assert all(not v["available"] for v in card.variants)
    line = reply.text.splitlines()[1]
    assert "unavailable" in line and "In blue, 1000ml" in line
    # What can be had instead is named from the data: 1000ml in red or black.
    assert "red, black in 1000ml" in line
    # Every price said is the product's or one of its versions'.
    known = {p.price for p in reply.products} | {v.price for v in versions[BOTTLE]}
    assert _prices(reply.text) <= {round(x, 2) for x in known}


def test_item_questions_are_answered_from_the_variants_table(agent, versions):
    state = ConversationState()
    first = agent.turn(state, "t-shirt")
    assert first.products[0].id == TSHIRT
    yes = agent.turn(state, "do you have this in size M?")
    assert yes.commands[0]["type"] == "ask_about" and yes.text.startswith("Yes, T-Shirt")
    size_m = [v for v in versions[TSHIRT] if v.options["size"] == "M"]
    assert all(f"${v.price:.2f}" in yes.text for v in size_m if v.available)
    no = agent.turn(state, "does the first one come in size XS?")
    assert no.text.startswith("No, T-Shirt doesn't come in size XS")
    listed = re.search(r"Available: size ([^.;]*)", no.text)
    assert listed and set(listed.group(1).split(", ")) == {
        v.options["size"] for v in versions[TSHIRT] if v.available
    }
    unknown = agent.turn(state, "is the first one available in orange?")
    assert unknown.text.startswith("No, T-Shirt doesn't come in orange")


def test_an_unavailable_version_is_never_offered(agent, versions):
    state = ConversationState()
    agent.turn(state, "t-shirt")
    reply = agent.turn(state, "is the first one available in red, size S?")
    red_s = [
        v for v in versions[TSHIRT] if v.options["color"] == "red" and v.options["size"] == "S"
    ]
    assert red_s and not any(v.available for v in red_s)  # the data
    assert "is unavailable right now" in reply.text and not reply.text.startswith("Yes")
    assert reply.products[0].variants and not reply.products[0].variants[0]["available"]


def test_option_words_alone_refine_the_search(agent):
    state = ConversationState()
    agent.turn(state, "the water bottle in blue, 1000ml")
    reply = agent.turn(state, "what about 750ml?")
    assert reply.commands[0]["type"] == "refine"
    assert state.constraints.attributes == {"750ml", "blue"}  # a new capacity, the same colour
    assert reply.products[0].name == "Water Bottle"
    assert all(v["available"] for v in reply.products[0].variants[:1])
    assert "In 750ml, blue:" in reply.text


def test_rules_read_version_questions_about_items_on_screen(retail):
    vocab = retail.catalogue.vocabulary
    route = Route("search", 0.4, "embedding")
    ask = fast_path(route, "is the second one available in black?", 3, vocab)
    assert ask == [AskAbout(items=[2], question="is the second one available in black?")]
    assert fast_path(route, "in black", 3, vocab) == [Refine(attributes=["black"])]
    assert fast_path(route, "do you have a backpack in black?", 3, vocab) is None  # a search


def test_the_model_may_state_a_versions_price_but_not_offer_one_that_cannot_be_bought(
    retail, versions
):
    blue_m = next(
        v for v in versions[TSHIRT] if v.options["color"] == "blue" and v.options["size"] == "M"
    )
    good = f"[1] in blue, size M is ${blue_m.price:.2f}."
    reply = Agent(retail, ScriptedChatModel(lambda msgs: good)).turn(
        ConversationState(), "a t-shirt in blue size M"
    )
    assert reply.generated and not reply.validation_problems
    assert f"T-Shirt in blue, size M is ${blue_m.price:.2f}." in reply.text
    bad = "[1] is available in blue and 1000ml."
    reply = Agent(retail, ScriptedChatModel(lambda msgs: bad)).turn(
        ConversationState(), "the water bottle in blue, 1000ml"
    )
    assert reply.fallback and any("cannot be bought" in p for p in reply.validation_problems)
    assert "is available in blue" not in reply.text
