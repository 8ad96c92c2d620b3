"""What an import says about itself: rows read, kept, skipped and rejected, each problem with its
file, line and reason, and what changed in the store."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Level = Literal["error", "warning"]
# Problems kept in full in a report; beyond this they are only counted (a 100k-row file with a
# broken column must not build a 100k-entry report).
MAX_LISTED = 1000


@dataclass(frozen=True)
class RowError:
    """One problem in an input file. `line` is the physical line where the record starts (the
    header is line 1; a quoted field may span lines). An error rejects the record; a warning
    keeps it (e.g. a line that was not UTF-8 and was read as Windows-1252)."""

    file: str
    line: int
    reason: str
    level: Level = "error"
    column: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        col = f" [{self.column}]" if self.column else ""
        return f"{where}: {self.level}{col}: {self.reason}"


@dataclass
class ImportReport:
    """The result of one `shopassist import <kind>` run (products, orders or customers).

    `rows` counts data rows read; `accepted` the records kept (for products: products, not
    rows); `rejected` the records refused for an error; `skipped` records left out on purpose,
    by reason ("draft", "archived", ...). `added`/`updated`/`unchanged`/`removed` describe the
    store after the commit (or, on a dry run, what a commit would do)."""

    kind: str
    store: str
    file: str
    format: str
    dry_run: bool = False
    max_errors: int = 0
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    errors_total: int = 0
    warnings_total: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    kept_referenced: int = 0  # gone from the file but kept: orders refer to them
    embedded: int = 0
    committed: bool = False
    failure: str | None = None  # what went wrong (before the commit: nothing was written)
    currency: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)  # parse, store, index

    def add(self, problem: RowError) -> None:
        if problem.level == "error":
            self.errors_total += 1
            if len(self.errors) < MAX_LISTED:
                self.errors.append(problem)
        else:
            self.warnings_total += 1
            if len(self.warnings) < MAX_LISTED:
                self.warnings.append(problem)

    def error(self, file: str, line: int, reason: str, column: str | None = None) -> None:
        self.add(RowError(file, line, reason, "error", column))

    def warn(self, file: str, line: int, reason: str, column: str | None = None) -> None:
        self.add(RowError(file, line, reason, "warning", column))

    @property
    def exceeded(self) -> bool:
        """More records were rejected than --max-errors allows: nothing is committed."""
        return self.rejected > self.max_errors

    @property
    def ok(self) -> bool:
        return not self.exceeded and self.failure is None

    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["skipped"] = dict(self.skipped)
        out["exceeded"] = self.exceeded
        out["ok"] = self.ok
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=1, ensure_ascii=False)

    def summary(self) -> str:
        """The human report: totals, then each problem on its own line."""
        verb = "would be" if self.dry_run else "were"
        lines = [
            f"{self.kind} import into store {self.store!r} from {self.file} ({self.format})"
            + (" — dry run, nothing written" if self.dry_run else ""),
            f"  rows read: {self.rows:,}; {self.kind} accepted: {self.accepted:,}; "
            f"rejected: {self.rejected:,}",
        ]
        if self.skipped:
            parts = ", ".join(f"{n:,} {why}" for why, n in sorted(self.skipped.items()))
            lines.append(f"  skipped on purpose: {parts}")
        lines.append(
            f"  {self.added:,} {verb} added, {self.updated:,} updated, "
            f"{self.unchanged:,} unchanged, {self.removed:,} removed"
            + (
                f" ({self.kept_referenced:,} gone from the file but kept: orders refer to them)"
                if self.kept_referenced
                else ""
            )
        )
        if self.embedded:
            lines.append(f"  {self.embedded:,} products embedded")
        if self.currency:
            lines.append(f"  currency: {self.currency}")
        for problem in sorted(self.errors + self.warnings, key=lambda p: (p.file, p.line)):
            lines.append(f"  {problem}")
        hidden = (self.errors_total - len(self.errors)) + (self.warnings_total - len(self.warnings))
        if hidden:
            lines.append(f"  … and {hidden:,} more problems not listed")
        if self.exceeded:
            lines.append(
                f"  REJECTED: {self.rejected:,} rejected records exceed --max-errors "
                f"{self.max_errors}; nothing was written. Fix them, or pass --max-errors "
                f"{self.rejected} to import the rest."
            )
        elif self.failure and self.committed:
            lines.append(f"  committed, then FAILED: {self.failure}")
        elif self.failure:
            lines.append(f"  FAILED: {self.failure}; nothing was written")
        elif not self.dry_run and self.committed:
            lines.append("  committed")
            if self.kind == "products":
                lines.append(f"  serve it: SHOPASSIST_CATALOGUE={self.store} make run")
        if self.seconds:
            lines.append("  time: " + ", ".join(f"{k} {v:.2f}s" for k, v in self.seconds.items()))
        return "\n".join(lines)
