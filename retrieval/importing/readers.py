"""Streaming readers for import files: rows one at a time, each with the line it starts on.

Files are read as bytes, line by line, never whole. A UTF-8 byte-order mark is dropped. A line
that is not valid UTF-8 is read as Windows-1252 (what spreadsheet programs write) and the record
gets a warning naming the line, so a shop owner sees which text may be garbled; nothing crashes.
CSV records may span lines (quoted HTML bodies do): the line reported is the record's first.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from .report import ImportReport

BOM = b"\xef\xbb\xbf"
_PROGRESS_EVERY = 2000  # lines between progress bar updates

csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # long HTML bodies


@dataclass
class _Lines:
    """Decoded lines of a binary file, remembering which were not UTF-8 and how far it got."""

    fh: IO[bytes]
    bad: list[int] = field(default_factory=list)  # line numbers read as Windows-1252
    line: int = 0
    bytes_read: int = 0
    had_bom: bool = False
    progress: Any = None

    def __iter__(self) -> Iterator[str]:
        for raw in self.fh:
            self.line += 1
            self.bytes_read += len(raw)
            if self.line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                self.had_bom = True
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.append(self.line)
                text = raw.decode("cp1252", errors="replace")
            if self.progress is not None and self.line % _PROGRESS_EVERY == 0:
                self.progress.update(self.bytes_read - self.progress.n)
            yield text

    def take_bad(self, first: int, last: int) -> list[int]:
        """Bad lines within [first, last], forgotten once taken."""
        if not self.bad:
            return []
        hit = [n for n in self.bad if first <= n <= last]
        if hit:
            self.bad = [n for n in self.bad if n > last]
        return hit


@contextmanager
def _open(path: Path, progress: bool, what: str) -> Iterator[_Lines]:
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(
            total=path.stat().st_size,
            unit="B",
            unit_scale=True,
            desc=what,
            file=sys.stderr,
            leave=False,
        )
    with path.open("rb") as fh:
        lines = _Lines(fh, progress=bar)
        try:
            yield lines
        finally:
            if bar is not None:
                bar.update(lines.bytes_read - bar.n)
                bar.close()


def _warn_bad(report: ImportReport, label: str, bad: list[int]) -> None:
    for n in bad:
        report.warn(label, n, "not valid UTF-8; read as Windows-1252 (check accented text)")


def read_header(path: Path) -> list[str]:
    """The first CSV row (BOM dropped), for detecting the format."""
    with path.open("rb") as fh:
        head = fh.read(64 * 1024)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    text = head.decode("utf-8", errors="replace")
    first = next(csv.reader(text.splitlines()[:1] or [""]), [])
    return [c.strip() for c in first]


def iter_csv(
    path: Path, report: ImportReport, *, progress: bool = False
) -> Iterator[tuple[int, dict[str, str]]]:
    """(line, row) for each data row, the row keyed by the header's column names (stripped).
    Short rows are padded with ""; a row with more fields than the header gets a warning and
    the extra fields are dropped; blank rows are skipped."""
    label = path.name
    with _open(path, progress, f"reading {label}") as lines:
        reader = csv.reader(lines)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            return
        except csv.Error as exc:
            report.error(label, 1, f"unreadable CSV header: {exc}")
            report.rejected += 1
            return
        _warn_bad(report, label, lines.take_bad(1, lines.line))
        width = len(header)
        last = reader.line_num
        while True:
            start = last + 1
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                # The csv module cannot go on after this: report it and stop, never crash.
                report.error(label, start, f"malformed CSV, reading stopped here: {exc}")
                report.rejected += 1
                break
            last = reader.line_num
            _warn_bad(report, label, lines.take_bad(start, last))
            if not values or not any(v.strip() for v in values):
                continue
            report.rows += 1
            if len(values) > width and any(v.strip() for v in values[width:]):
                report.warn(
                    label,
                    start,
                    f"row has {len(values)} fields but the header has {width}; extra ignored",
                )
            elif len(values) < width:
                values = values + [""] * (width - len(values))
            yield start, dict(zip(header, values, strict=False))


def iter_jsonl(
    path: Path, report: ImportReport, *, progress: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, object) for each JSON object line; a line that is not a JSON object is an error
    (reported, skipped)."""
    label = path.name
    with _open(path, progress, f"reading {label}") as lines:
        for text in lines:
            n = lines.line
            _warn_bad(report, label, lines.take_bad(n, n))
            if not text.strip():
                continue
            report.rows += 1
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as exc:
                report.error(label, n, f"not valid JSON: {exc.msg} (column {exc.colno})")
                report.rejected += 1
                continue
            if not isinstance(obj, dict):
                report.error(label, n, "a line must hold one JSON object")
                report.rejected += 1
                continue
            yield n, obj
