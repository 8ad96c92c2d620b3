"""Imported stores: where each lives, its manifest, and how it is served as a catalogue source.

An imported store has its own directory, `<data_dir>/stores/<name>/`, holding

- `store.json`, the manifest (`StoreManifest`): the name shoppers see, the currency, and a short
  history of the imports that built it;
- `shopassist.db`, its own SQLite database (unless `SHOPASSIST_DATABASE_URL` names one), so
  importing a store never touches the demo stores' data, and a store's customers, orders,
  events and chats stay with it.

Its vectors live in the shared Chroma under its own collections (`<name>_products`, ...).

`SHOPASSIST_CATALOGUE=<name>` serves it: `retrieval.sources.get_source(name, settings)` returns
an `ImportedStoreSource`, whose records are read back from the store's database (an imported
store has no raw files), and `shopassist index` embeds what changed.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..settings import BUILTIN_CATALOGUES
from ..sources.base import CatalogueData

if TYPE_CHECKING:
    from ..db import Database
    from ..settings import Settings

STORES_DIR = "stores"
MANIFEST = "store.json"
DATABASE_FILE = "shopassist.db"
MAX_HISTORY = 20  # imports remembered in a manifest
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
BUILTIN = BUILTIN_CATALOGUES


class StoreNameError(ValueError):
    pass


def check_store_name(name: str) -> str:
    """A store name: 2–32 characters, lower-case letters, digits, '-' and '_', starting with a
    letter or digit (it names a directory and Chroma collections); not a built-in store's."""
    if not NAME_RE.match(name or ""):
        raise StoreNameError(
            f"store name {name!r}: use 2-32 lower-case letters, digits, '-' or '_' "
            "(e.g. 'acme-outfitters')"
        )
    if name in BUILTIN:
        raise StoreNameError(f"{name!r} is a built-in demo store; choose another name")
    return name


def display_name_for(name: str) -> str:
    """'acme-outfitters' → 'Acme Outfitters' (the default name shoppers see)."""
    return " ".join(w.capitalize() for w in re.split(r"[-_]+", name) if w)


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass
class StoreManifest:
    """What the registry knows about one imported store."""

    name: str
    display_name: str
    currency: str = "USD"
    identification_in_chat: bool = False
    created_at: str = field(default_factory=_now)
    updated_at: str = field(default_factory=_now)
    version: int = 0  # bumped by each committed import
    indexed: int = 0  # the version whose vectors are complete (what a running app serves)
    imports: list[dict[str, Any]] = field(default_factory=list)  # newest last

    def record(self, summary: dict[str, Any], changed: bool = True) -> None:
        """Remember a committed import (kind, file, format, counts); one that changed the
        store bumps the version (running apps reload it once it is indexed)."""
        if changed:
            self.version += 1
        self.updated_at = _now()
        self.imports = [*self.imports, {"at": self.updated_at, **summary}][-MAX_HISTORY:]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoreManifest:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


class StoreRegistry:
    """The imported stores under one data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / STORES_DIR

    def directory(self, name: str) -> Path:
        return self.root / check_store_name(name)

    def manifest_path(self, name: str) -> Path:
        return self.directory(name) / MANIFEST

    def database_path(self, name: str) -> Path:
        return self.directory(name) / DATABASE_FILE

    def exists(self, name: str) -> bool:
        return NAME_RE.match(name or "") is not None and (self.root / name / MANIFEST).is_file()

    def names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob(f"*/{MANIFEST}"))

    def get(self, name: str) -> StoreManifest:
        path = self.manifest_path(name)
        if not path.is_file():
            raise KeyError(name)
        return StoreManifest.from_json(json.loads(path.read_text(encoding="utf-8")))

    def get_or_new(self, name: str, display_name: str | None = None) -> StoreManifest:
        try:
            return self.get(name)
        except KeyError:
            return StoreManifest(name, display_name or display_name_for(name))

    def save(self, manifest: StoreManifest) -> None:
        """Write the manifest atomically (a reader sees the old one or the new one)."""
        path = self.manifest_path(manifest.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".store.", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(manifest.to_json(), fh, indent=1, ensure_ascii=False)
            fh.write("\n")
        os.replace(tmp, path)

    def mark_indexed(self, name: str) -> None:
        """The store's vectors now match its database: running apps may load it."""
        manifest = self.get(name)
        if manifest.indexed != manifest.version:
            manifest.indexed = manifest.version
            self.save(manifest)


class StoreWatch:
    """Whether an imported store was re-imported and re-indexed since the last look: a running
    app keeps serving what it loaded until the new catalogue is complete, then reloads. Looks
    at the manifest's modification time at most once every `every` seconds."""

    def __init__(self, data_dir: Path, name: str, every: float = 1.0) -> None:
        self.path = StoreRegistry(data_dir).manifest_path(name)
        self.every = every
        self._next = time.monotonic() + every
        self._stamp = self._stat()
        self._indexed = self._read()

    def _stat(self) -> int:
        try:
            return self.path.stat().st_mtime_ns
        except OSError:
            return 0

    def _read(self) -> int:
        try:
            return int(json.loads(self.path.read_text(encoding="utf-8")).get("indexed", 0))
        except (OSError, ValueError, AttributeError):
            return self._indexed if hasattr(self, "_indexed") else 0

    def changed(self) -> bool:
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        self._stamp = stamp
        indexed = self._read()
        if indexed == self._indexed:
            return False
        self._indexed = indexed
        return True


def store_database_url(settings: Settings, name: str) -> str:
    """The imported store's database: `settings.database_url` when set, else its own SQLite."""
    if settings.database_url:
        return settings.database_url
    path = StoreRegistry(settings.data_dir).database_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path.resolve()}"


class ImportedStoreSource:
    """An imported store as a catalogue source. Its records already live in its database:
    `in_database` tells the indexer not to reload them, and `load` reads them back (for the
    code that asks a source for its records: enrichment, store resets)."""

    in_database = True

    def __init__(self, manifest: StoreManifest, database_url: str) -> None:
        self.manifest = manifest
        self.name = manifest.name
        self.display_name = manifest.display_name
        self.currency = manifest.currency
        self.identification_in_chat = manifest.identification_in_chat
        self.database_url = database_url

    def database(self) -> Database:
        from ..db import Database

        return Database(self.database_url)

    def load(self, raw_dir: Path) -> CatalogueData:
        from .store import read_catalogue

        return read_catalogue(self.database(), self.name)


def imported_source(name: str, settings: Settings) -> ImportedStoreSource | None:
    """The imported store called `name` under `settings.data_dir`, or None."""
    registry = StoreRegistry(settings.data_dir)
    if not registry.exists(name):
        return None
    return ImportedStoreSource(registry.get(name), store_database_url(settings, name))
