"""LLM-enriched item features: the store, the cache, the validator and the embedded text.

A local model (run by `assistant/enrich.py`; retrieval never imports the assistant) reads each
product's own facts and answers under `SCHEMA`: what type of thing it is ("desk lamp"), what it
is for, the room, a few attribute words and whom it suits. The answers are

- **validated** here (`validate`): schema, lengths, and every attribute word must appear in the
  product's own name or feature text, or it is dropped (a colour or material the name does not
  state is a guess); a product type whose head noun is not the product's own (copied from the
  prompt's examples, or what the product is *for*) is replaced by the name's head noun;
- **cached** in the database (`EnrichmentRow`), keyed by the product's id, the hash of the facts
  the model saw, the model file's SHA-256 and the prompt version, so a run resumes where it
  stopped and a changed product, model or prompt is enriched again;
- **shipped** as a gzipped JSONL file per catalogue
  (`retrieval/enrichments/enrichment-<catalogue>.jsonl.gz`, a header line with the model hash
  and prompt version first) that `shopassist index` loads, so a fresh install does not spend an
  hour and a half of CPU on it. Measured for Superstore (1,862 products, Qwen2.5-Coder-0.5B,
  llama.cpp, 1 thread, 6 slots, on a 2-core machine shared with other work): 5,346 s, 2.9 s per
  product; one slot on an idle core: about 4.7 s per product. The electronics catalogue is not
  shipped (552 products with long feature texts: roughly another hour here).

`enriched_text(product, enrichment)` is what gets embedded when enrichment is on
(`Settings.enrichment`); with it off the plain `Product.embedding_text()` is embedded, so both stay
measurable (bench/search.py).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, DateTime, String, Text, delete, select
from sqlalchemy.orm import Mapped, mapped_column

from .constraints import singular
from .db import Base, Database
from .sources.base import Product

log = logging.getLogger(__name__)

FILE_FORMAT = 1
ROOMS = (
    "office",
    "home office",
    "conference room",
    "break room",
    "kitchen",
    "mail room",
    "classroom",
    "warehouse",
    "living room",
    "any",
)
MAX_ATTRIBUTES = 4
# The model answers under this schema (grammar-constrained decoding); `validate` re-checks it.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "product_type": {"type": "string", "minLength": 2, "maxLength": 40},
        "typical_use": {"type": "string", "maxLength": 60},
        "room": {"type": "string", "enum": list(ROOMS)},
        "attributes": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 24},
            "maxItems": MAX_ATTRIBUTES,
        },
        "suits": {"type": "string", "maxLength": 50},
    },
    "required": ["product_type", "typical_use", "room", "attributes", "suits"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class Enrichment:
    product_type: str
    typical_use: str = ""
    room: str = "any"
    attributes: tuple[str, ...] = ()
    suits: str = ""

    def as_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["attributes"] = list(self.attributes)
        return d

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Enrichment:
        return cls(
            product_type=str(data["product_type"]),
            typical_use=str(data.get("typical_use", "")),
            room=str(data.get("room", "any")),
            attributes=tuple(str(a) for a in data.get("attributes", ())),
            suits=str(data.get("suits", "")),
        )

    def text(self) -> str:
        """The words added to the embedded text."""
        parts = [self.product_type]
        if self.typical_use:
            parts.append(f"for {self.typical_use}")
        if self.attributes:
            parts.append(", ".join(self.attributes))
        if self.room and self.room != "any":
            parts.append(f"{self.room} use")
        if self.suits:
            parts.append(f"suits {self.suits}")
        return ". ".join(parts)


# --------------------------------------------------------------------------- facts and text


def product_facts(p: Product) -> str:
    """Everything the model is shown about a product: its own name, category and feature text
    (no prices, reviews or other products)."""
    text = f"{p.name} ({p.category} > {p.sub_category})"
    if p.features:
        text += f". Features: {p.features[:400]}"
    return text


def facts_hash(p: Product) -> str:
    return hashlib.sha256(product_facts(p).encode()).hexdigest()[:16]


def enriched_text(p: Product, e: Enrichment | None) -> str:
    """Name + category + enrichment: the embedded text when enrichment is on. Product features
    are kept (electronics) after the enrichment, so the type words come first."""
    if e is None:
        return p.embedding_text()
    parts = [p.name, f"{p.category} > {p.sub_category}", e.text()]
    if p.brand:
        parts.append(f"brand {p.brand}")
    if p.features:
        parts.append(p.features)
    return ". ".join(parts)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- validation

_WORD = re.compile(r"[a-z0-9]+(?:['.][a-z0-9]+)*")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


def grounded(phrase: str, source: str) -> bool:
    """True when the phrase's words appear, in order and adjacent, in `source` (case, hyphens
    and punctuation ignored): "brushed steel" is grounded in "Tensor Brushed-Steel Lamp"."""
    want, have = _words(phrase), _words(source)
    if not want:
        return False
    n = len(want)
    return any(have[i : i + n] == want for i in range(len(have) - n + 1))


_GOES_WITH = re.compile(r"\s+(?:for|with|w/)\s+", re.I)  # "Bulb for Zoom-In Desk Lamp"
_NAME_CORE_END = re.compile(r"\s+(?:for|with|w/|by)\s+|,|\(", re.I)


def type_words(text: str) -> tuple[str, ...]:
    """A type or name as singular words ("Desk Lamps" → ("desk", "lamp"))."""
    return tuple(singular(w) for w in _words(text.replace("/", " ")))


def _name_noun(p: Product) -> str:
    """The product's own head noun: the last word of its name before any "for"/"with"/comma
    part or parenthesis, when that is a plain word; else its sub-category's, singular."""
    core = _NAME_CORE_END.split(p.name, maxsplit=1)[0]
    words = _words(core)
    last = words[-1] if words else ""
    if last.isalpha() and len(last) >= 3 and last != (p.brand or "").lower():
        return singular(last)
    return singular(_words(p.sub_category)[-1]) if _words(p.sub_category) else last


def _grounded_type(p: Product, ptype: str) -> str:
    """The product type, unless its head noun is not the product's own: a head that appears
    nowhere in the product's name, category or feature text is a guess (a small model copies
    its prompt's examples: "paper shredder" for a ream of copy paper), and one that appears only
    in the name's "for"/"with" part names what the product goes with ("desk lamp" for a
    "Halogen Replacement Bulb for Zoom-In Desk Lamp"). Either way the name's own head noun
    replaces it ("paper", "bulb"); a grounded type is kept as the model wrote it."""
    head = type_words(ptype)[-1:]
    if not head:
        return ptype
    parts = _GOES_WITH.split(p.name, maxsplit=1)
    core = set(type_words(parts[0]))
    own = set(type_words(f"{p.name} {p.category} {p.sub_category} {p.features}"))
    only_after = len(parts) > 1 and head[0] not in core and head[0] in type_words(parts[1])
    if head[0] in own and not (only_after and head[0] not in type_words(p.sub_category)):
        return ptype
    return _name_noun(p)


def goes_with(head: str, name: str, product_type: str = "") -> bool:
    """True when the product is a thing that goes with a `head` rather than one: `head` is a
    modifier in its enriched type ("lamp" in "desk lamp bulb"), or its name says it is *for* or
    *with* one and does not name one itself ("Replacement Bulb for Zoom-In Desk Lamp")."""
    t = type_words(product_type)
    if t and t[-1] == head:
        return False
    if head in t[:-1]:
        return True
    parts = _GOES_WITH.split(name, maxsplit=1)
    return len(parts) > 1 and head not in type_words(parts[0]) and head in type_words(parts[1])


def type_match(phrase: tuple[str, ...], product_type: str) -> float:
    """How well a product type answers the noun phrase asked for (singular words): 1 for the
    same type, 0.5 when one is the other's parent ("lamp" for "desk lamp", "bluetooth headset"
    for "headset"), 0 for a sibling ("floor lamp" for "desk lamp") or another thing."""
    t = type_words(product_type)
    if not phrase or not t or phrase[-1] != t[-1]:
        return 0.0
    if phrase == t:
        return 1.0
    return 0.5 if phrase[-len(t) :] == t or t[-len(phrase) :] == phrase else 0.0


class EnrichmentInvalid(ValueError):
    """The model's answer is not usable (not JSON, missing fields, empty type)."""


def _clean(s: Any, limit: int) -> str:
    if not isinstance(s, str):
        return ""
    s = " ".join(s.split()).strip(" .,;:")
    return s[:limit].rstrip()


def validate(p: Product, raw: str | Mapping[str, Any]) -> Enrichment:
    """The model's answer for `p` as an Enrichment, or EnrichmentInvalid. Attribute words that
    the product's own name/feature text does not contain are dropped, as are attributes that
    merely repeat the product type; a type that names what the product is for is replaced by
    the name's own head noun."""
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise EnrichmentInvalid(f"not JSON: {exc}") from None
    else:
        data = raw
    if not isinstance(data, Mapping):
        raise EnrichmentInvalid("not a JSON object")
    ptype = _clean(data.get("product_type"), 40).lower()
    if len(ptype) < 2 or len(ptype.split()) > 5 or not _words(ptype):
        raise EnrichmentInvalid(f"unusable product_type {data.get('product_type')!r}")
    ptype = _grounded_type(p, ptype)
    room = data.get("room")
    room = room if room in ROOMS else "any"
    source = f"{p.name} {p.features}"
    attrs: list[str] = []
    raw_attrs = data.get("attributes")
    for a in raw_attrs if isinstance(raw_attrs, list) else []:
        a = _clean(a, 24).lower()
        if a and type_words(a) != type_words(ptype) and a not in attrs and grounded(a, source):
            attrs.append(a)
    return Enrichment(
        product_type=ptype,
        typical_use=_clean(data.get("typical_use"), 60),
        room=room,
        attributes=tuple(attrs[:MAX_ATTRIBUTES]),
        suits=_clean(data.get("suits"), 50),
    )


# --------------------------------------------------------------------------- the cache


class EnrichmentRow(Base):
    """One product's enrichment under one (facts, model, prompt). Defined here on the shared
    declarative Base; created on first use (`EnrichmentStore`)."""

    __tablename__ = "product_enrichment"
    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    facts_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    model_sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    prompt_version: Mapped[str] = mapped_column(String(32), primary_key=True)
    data: Mapped[dict] = mapped_column(JSON)
    raw: Mapped[str] = mapped_column(Text, default="")  # the model's answer, before validation
    created_at: Mapped[datetime] = mapped_column(DateTime)


@dataclass(frozen=True)
class CacheKey:
    model_sha: str
    prompt_version: str


class EnrichmentStore:
    """Enrichments in the database. `lookup` answers the current one per product (any model and
    prompt, newest first, for the product's current facts); `missing` says which products a
    given model and prompt have not done yet (what a resumed run still has to do)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        EnrichmentRow.__table__.create(db.engine, checkfirst=True)  # type: ignore[attr-defined]

    def _rows(self, ids: Iterable[str]) -> list[EnrichmentRow]:
        ids = list(ids)
        out: list[EnrichmentRow] = []
        with self.db.session() as s:
            for start in range(0, len(ids), 500):
                out += s.scalars(
                    select(EnrichmentRow).where(
                        EnrichmentRow.product_id.in_(ids[start : start + 500])
                    )
                ).all()
        return out

    def done(self, products: Iterable[Product], key: CacheKey) -> set[str]:
        products = list(products)
        want = {p.id: facts_hash(p) for p in products}
        return {
            r.product_id
            for r in self._rows(want)
            if r.facts_hash == want[r.product_id]
            and r.model_sha == key.model_sha
            and r.prompt_version == key.prompt_version
        }

    def missing(self, products: Iterable[Product], key: CacheKey) -> list[Product]:
        products = list(products)
        have = self.done(products, key)
        return [p for p in products if p.id not in have]

    def put(self, product: Product, enrichment: Enrichment, key: CacheKey, raw: str = "") -> None:
        self.put_many([(product, enrichment, raw)], key)

    def put_many(self, items: Iterable[tuple[Product, Enrichment, str]], key: CacheKey) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        with self.db.session() as s:
            for p, e, raw in items:
                s.merge(
                    EnrichmentRow(
                        product_id=p.id,
                        facts_hash=facts_hash(p),
                        model_sha=key.model_sha,
                        prompt_version=key.prompt_version,
                        data=e.as_json(),
                        raw=raw,
                        created_at=now,
                    )
                )

    def clear(self, key: CacheKey | None = None) -> None:
        with self.db.session() as s:
            q = delete(EnrichmentRow)
            if key is not None:
                q = q.where(
                    EnrichmentRow.model_sha == key.model_sha,
                    EnrichmentRow.prompt_version == key.prompt_version,
                )
            s.execute(q)

    def lookup(
        self, products: Iterable[Product], key: CacheKey | None = None
    ) -> dict[str, Enrichment]:
        """product id → its enrichment for the product's current facts (newest when several
        models or prompts have done it; only `key`'s when given)."""
        products = list(products)
        want = {p.id: facts_hash(p) for p in products}
        best: dict[str, EnrichmentRow] = {}
        for r in self._rows(want):
            if r.facts_hash != want[r.product_id]:
                continue
            if key is not None and (r.model_sha, r.prompt_version) != (
                key.model_sha,
                key.prompt_version,
            ):
                continue
            cur = best.get(r.product_id)
            if cur is None or r.created_at > cur.created_at:
                best[r.product_id] = r
        return {pid: Enrichment.from_json(r.data) for pid, r in best.items()}

    def raw_answers(self, products: Iterable[Product], key: CacheKey) -> dict[str, str]:
        """product id → the model's unvalidated answer under `key` (empty for imported rows)."""
        products = list(products)
        want = {p.id: facts_hash(p) for p in products}
        return {
            r.product_id: r.raw
            for r in self._rows(want)
            if r.facts_hash == want[r.product_id]
            and (r.model_sha, r.prompt_version) == (key.model_sha, key.prompt_version)
        }

    # Shipped files ------------------------------------------------------------------------
    def export(self, path: Path, products: Iterable[Product], key: CacheKey, catalogue: str) -> int:
        """Write `key`'s enrichments of `products` as gzipped JSONL (header line first)."""
        products = list(products)
        got = self.lookup(products, key)
        raw = self.raw_answers(products, key)
        for p in products:  # the current validator's reading of the model's own answer
            if raw.get(p.id):
                try:
                    got[p.id] = validate(p, raw[p.id])
                except EnrichmentInvalid:
                    got.pop(p.id, None)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        header = {
            "format": FILE_FORMAT,
            "catalogue": catalogue,
            "model_sha256": key.model_sha,
            "prompt_version": key.prompt_version,
            "products": len(got),
            "schema": SCHEMA,
        }
        # mtime=0: the same enrichments give the same bytes (a stable file in git).
        with (
            tmp.open("wb") as fh,
            gzip.GzipFile(fileobj=fh, mode="wb", mtime=0) as gz,
        ):
            gz.write((json.dumps(header, sort_keys=True) + "\n").encode())
            for p in sorted(products, key=lambda p: p.id):
                if p.id in got:
                    rec = {"id": p.id, "facts_hash": facts_hash(p), **got[p.id].as_json()}
                    gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode())
        tmp.replace(path)
        return len(got)

    def import_file(self, path: Path, products: Iterable[Product]) -> int:
        """Load a shipped file into the cache: records whose product still has the same facts
        are stored (re-validated); others are skipped. Returns how many were stored."""
        header, records = read_file(path)
        key = CacheKey(header["model_sha256"], header["prompt_version"])
        by_id = {p.id: p for p in products}
        items = []
        for rec in records:
            p = by_id.get(rec.get("id", ""))
            if p is None or rec.get("facts_hash") != facts_hash(p):
                continue
            try:
                items.append((p, validate(p, rec), ""))
            except EnrichmentInvalid:
                continue
        self.put_many(items, key)
        return len(items)


def read_file(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = [json.loads(line) for line in fh if line.strip()]
    if not lines or lines[0].get("format") != FILE_FORMAT or "model_sha256" not in lines[0]:
        raise ValueError(f"{path} is not a shopassist enrichment file (format {FILE_FORMAT})")
    return lines[0], lines[1:]


def shipped_file(catalogue: str) -> Path:
    """Where the repository ships a catalogue's enrichments (it may not exist)."""
    return Path(
        str(resources.files("retrieval") / "enrichments" / f"enrichment-{catalogue}.jsonl.gz")
    )
