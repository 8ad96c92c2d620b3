"""Shared helpers for the benchmarks: timing, percentiles, ratios and markdown tables."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Latency:
    """p50/p99/mean over a set of samples, in milliseconds."""

    n: int
    p50: float
    p99: float
    mean: float

    @classmethod
    def of(cls, samples_ms: Sequence[float]) -> Latency:
        a = np.asarray(samples_ms, dtype=np.float64)
        if a.size == 0:
            return cls(0, float("nan"), float("nan"), float("nan"))
        p50, p99 = np.percentile(a, [50, 99])
        return cls(int(a.size), float(p50), float(p99), float(a.mean()))

    def as_json(self) -> dict[str, float]:
        return {"n": self.n, "p50_ms": self.p50, "p99_ms": self.p99, "mean_ms": self.mean}


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run fn once; (result, elapsed milliseconds) by time.perf_counter."""
    t = time.perf_counter()
    out = fn()
    return out, (time.perf_counter() - t) * 1e3


class Stopwatch:
    """Accumulates wall time across calls of a wrapped function."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def inner(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t
                self.calls += 1

        return inner


def settle() -> None:
    """Collect garbage before a timed block so one block's garbage does not land in the next."""
    gc.collect()


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def fmt_ms(x: float) -> str:
    if x != x:  # NaN
        return "–"
    return f"{x:.2f}" if x < 100 else f"{x:.0f}"


def fmt_ratio(x: float) -> str:
    return "–" if x != x else f"{x:.2f}×"


def fmt_num(x: float, digits: int = 3) -> str:
    return "–" if x != x else f"{x:.{digits}f}"


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
