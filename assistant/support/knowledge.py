"""Store-policy knowledge base: markdown docs → sections → embeddings in the `knowledge` collection.

Answers are citations (doc, section, text, score); the LLM may phrase them but the text is data,
never instructions. Indexing is incremental: a section is re-embedded only when its content hash
changes, and sections that disappeared from the docs are deleted.

The docs are English. A Chinese question is searched with the English words of the policy terms
it uses added (退货 -> return, 运费 -> shipping costs, 保修 -> warranty: `POLICY_TERMS_ZH`), so an
English-only embedder finds the same passages; a multilingual one gets both.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from retrieval.embed import Encoder
from retrieval.stack import RetrievalStack
from retrieval.store import KNOWLEDGE, VectorStore, VectorStoreUnavailable

log = logging.getLogger(__name__)
MAX_SECTION_CHARS = 800  # longer sections are split at paragraph breaks: one idea per vector

# Chinese policy words -> the English words the docs use for them. The first is added to the
# search query; any of them in a passage supports a Chinese answer that uses the word.
POLICY_TERMS_ZH: dict[str, tuple[str, ...]] = {
    "退货": ("return", "returns", "returned"),
    "退换": ("return", "exchange"),
    "退回": ("return", "back", "refund"),
    "退款": ("refund", "refunded", "refunds"),
    "退钱": ("refund", "refunded"),
    "换货": ("exchange", "exchanges", "different item"),
    "运费": ("shipping costs", "shipping cost", "shipping"),
    "邮费": ("shipping costs", "shipping"),
    "配送": ("shipping", "delivery", "delivered"),
    "送货": ("delivery", "delivered", "shipping"),
    "送达": ("delivered", "delivery"),
    "发货": ("ship", "ships", "shipped", "shipping"),
    "寄送": ("ship", "shipping"),
    "快递": ("carrier", "courier", "shipping"),
    "国际": ("international", "internationally", "outside"),
    "海外": ("international", "outside", "abroad"),
    "国外": ("international", "outside", "abroad"),
    "寄": ("ship", "shipping"),
    "物流": ("tracking", "shipping", "carrier"),
    "运单": ("tracking", "reference"),
    "追踪": ("tracking",),
    "跟踪": ("tracking",),
    "保修": ("warranty",),
    "质保": ("warranty",),
    "维修": ("repair", "warranty"),
    "损坏": ("damaged", "damage"),
    "故障": ("faulty", "fault", "defects"),
    "瑕疵": ("defects", "faulty"),
    "付款": ("payment", "pay", "paid"),
    "支付": ("payment", "pay", "paid"),
    "信用卡": ("card", "credit"),
    "扣款": ("charged", "charge"),
    "隐私": ("privacy", "data"),
    "个人信息": ("personal", "data"),
    "删除": ("delete", "deletion"),
    "取消": ("cancel", "cancelled", "cancellations"),
    "家具": ("furniture",),
    "电子产品": ("electronics", "technology"),
    "耗材": ("consumable", "consumables"),
    "重新上架费": ("restocking fee", "restocking"),
    "折扣": ("discount", "discounts"),
    "优惠券": ("coupon", "coupons"),
    "价格匹配": ("price matching", "price match"),
    "账户": ("account",),
    "账号": ("account",),
    "地址": ("address", "addresses"),
    "工作日": ("business days",),
    "批量": ("bulk",),
    # Question words: they help the search, but say nothing an answer must be supported in.
    "政策": ("policy",),
    "多久": ("how long",),
    "多长时间": ("how long",),
    "怎么": ("how",),
    "如何": ("how",),
    "什么时候": ("when",),
    "多少": ("how much",),
    "可以": ("can I",),
    "订单": ("order",),
    "到账": ("refund issued",),
    "人工": ("person",),
    "客服": ("contact",),
}
_QUERY_ONLY = frozenset(
    [
        "政策",
        "多久",
        "多长时间",
        "怎么",
        "如何",
        "什么时候",
        "多少",
        "可以",
        "订单",
        "到账",
        "人工",
        "客服",
    ]
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def policy_terms_zh(text: str) -> list[str]:
    """The Chinese policy words in `text`, longest first, none inside a longer one found."""
    found: list[str] = []
    for term in sorted(POLICY_TERMS_ZH, key=len, reverse=True):
        if term in text and not any(term in longer for longer in found):
            found.append(term)
    return found


def search_text(question: str, english_only: bool = True) -> str:
    """The text a question is embedded as. A Chinese question gets the English words of its
    policy terms: for an English-only embedder they replace the Chinese ("退货要多久？" ->
    "return how long?"), a multilingual one gets both."""
    if not _HAN.search(question):
        return question
    terms = policy_terms_zh(question)
    if not terms:
        return question
    english = " ".join(dict.fromkeys(POLICY_TERMS_ZH[t][0] for t in terms))
    if not english_only:
        return f"{question} {english}"
    latin = " ".join(re.findall(r"[A-Za-z][\w'-]*", question))  # "Hon 椅子退货" keeps "Hon"
    return f"{latin} {english}?".strip()


def unsupported_terms(sentence: str, passage: str) -> list[str]:
    """Chinese policy words of the sentence whose English words the passage never uses: an
    answer about 保修 (warranty) from a passage about returns says what the passage does not."""
    low = passage.lower()
    return [
        t
        for t in policy_terms_zh(sentence)
        if t not in _QUERY_ONLY and not any(w in low for w in POLICY_TERMS_ZH[t])
    ]


@dataclass(frozen=True)
class Section:
    id: str  # "returns#how-long-do-i-have-to-return-something"
    doc: str  # file stem, e.g. "returns"
    title: str  # the doc's "# " heading
    heading: str  # the section's "## " heading
    text: str

    def embedding_text(self) -> str:
        # Title and heading carry most of the topic signal for short policy paragraphs.
        return f"{self.title}: {self.heading}. {self.text}"

    def content_hash(self) -> str:
        return hashlib.sha256(self.embedding_text().encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Citation:
    doc: str
    section: str
    text: str
    score: float
    id: str = ""


@dataclass(frozen=True)
class KnowledgeIndexReport:
    sections: int
    embedded: int
    removed: int


def default_knowledge_dir() -> Path:
    """The markdown docs shipped as package data in the `knowledge` package."""
    docs = files("knowledge")
    if not isinstance(docs, Path):  # e.g. imported from a zip: not an install we support
        raise FileNotFoundError(f"the knowledge docs are not on the file system: {docs}")
    return docs


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"


def _chunks(body: str) -> list[str]:
    """Split at blank lines into pieces of at most MAX_SECTION_CHARS (a longer paragraph stays whole)."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()]
    out: list[str] = []
    for p in paras:
        if out and len(out[-1]) + 2 + len(p) <= MAX_SECTION_CHARS:
            out[-1] += "\n\n" + p
        else:
            out.append(p)
    return out


def split_markdown(doc: str, markdown: str) -> list[Section]:
    """One doc → sections by "## " heading; text before the first heading is an intro section."""
    title = doc.replace("-", " ").capitalize()
    blocks: list[tuple[str, list[str]]] = [("Overview", [])]
    for line in markdown.splitlines():
        if line.startswith("# "):
            title = line[2:].strip()
        elif line.startswith("## "):
            blocks.append((line[3:].strip(), []))
        else:
            blocks[-1][1].append(line)
    sections: list[Section] = []
    used: set[str] = set()
    for heading, lines in blocks:
        for i, chunk in enumerate(_chunks("\n".join(lines))):
            base = f"{doc}#{slugify(heading)}" + (f"-{i + 1}" if i else "")
            sid, n = base, 2
            while sid in used:  # two sections with the same heading
                sid, n = f"{base}-{n}", n + 1
            used.add(sid)
            sections.append(Section(sid, doc, title, heading, chunk))
    return sections


def load_sections(knowledge_dir: Path) -> list[Section]:
    if not knowledge_dir.is_dir():
        raise FileNotFoundError(f"knowledge directory {knowledge_dir} does not exist")
    out: list[Section] = []
    for path in sorted(knowledge_dir.glob("*.md")):
        out += split_markdown(path.stem, path.read_text(encoding="utf-8"))
    return out


class KnowledgeBase:
    def __init__(
        self, store: VectorStore, encoder: Encoder, knowledge_dir: Path | None = None
    ) -> None:
        self.store = store
        self.encoder = encoder
        self.knowledge_dir = knowledge_dir or default_knowledge_dir()

    @classmethod
    def from_stack(cls, stack: RetrievalStack, knowledge_dir: Path | None = None) -> KnowledgeBase:
        """The store's own policy docs when its source ships them (the retail store's
        policy.md), else the docs shipped with shopassist."""
        if knowledge_dir is None:
            from retrieval.sources import get_source

            settings = stack.settings
            own = getattr(get_source(settings.catalogue, settings), "knowledge_dir", None)
            knowledge_dir = own(settings.raw_dir) if own else None
        return cls(stack.store, stack.encoder, knowledge_dir)

    def index(self) -> KnowledgeIndexReport:
        sections = load_sections(self.knowledge_dir)
        existing = self.store.existing_hashes(KNOWLEDGE)
        changed = [s for s in sections if existing.get(s.id) != s.content_hash()]
        removed = sorted(set(existing) - {s.id for s in sections})
        if changed:
            vectors = self.encoder.encode([s.embedding_text() for s in changed])
            self.store.upsert(
                KNOWLEDGE,
                [s.id for s in changed],
                vectors,
                [
                    {
                        "doc": s.doc,
                        "section": s.heading,
                        "title": s.title,
                        "content_hash": s.content_hash(),
                    }
                    for s in changed
                ],
                documents=[s.text for s in changed],
            )
        self.store.delete(KNOWLEDGE, removed)
        report = KnowledgeIndexReport(len(sections), len(changed), len(removed))
        log.info("knowledge index: %s", report)
        return report

    def answer(self, question: str, k: int = 3, min_score: float = 0.0) -> list[Citation]:
        """The k most relevant policy sections, best first. Empty when nothing is indexed."""
        question = question.strip()
        if not question or k <= 0:
            return []
        # An English-only embedder (MiniLM) reads a Chinese question through its policy terms.
        english_only = getattr(self.encoder, "name", "minilm") == "minilm"
        vector = self.encoder.encode_one(search_text(question, english_only))
        try:
            n = self.store.count(KNOWLEDGE)
            if n == 0:
                log.warning("knowledge base is empty; run index_knowledge")
                return []
            hits = self.store.query(KNOWLEDGE, vector, min(k, n), with_documents=True)
        except VectorStoreUnavailable:
            # Degrade to "no citation": the caller then offers a ticket instead of guessing.
            log.warning("knowledge base unavailable", exc_info=True)
            return []
        return [
            Citation(
                doc=h.metadata.get("doc", h.id.split("#", 1)[0]),
                section=h.metadata.get("section", ""),
                text=h.document or "",
                score=round(h.score, 4),
                id=h.id,
            )
            for h in hits
            if h.score >= min_score
        ]


def index_knowledge(stack: RetrievalStack, knowledge_dir: Path | None = None) -> int:
    """Index the knowledge docs into the stack's store; returns how many sections it holds."""
    return KnowledgeBase.from_stack(stack, knowledge_dir).index().sections
