"""Store-policy knowledge base: markdown docs → sections → embeddings in the `knowledge` collection.

Answers are citations (doc, section, text, score); the LLM may phrase them but the text is data,
never instructions. Indexing is incremental: a section is re-embedded only when its content hash
changes, and sections that disappeared from the docs are deleted.
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
        vector = self.encoder.encode_one(question)
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
