"""A/B tests: deterministic bucketing, exposure and click logging, and the CTR report."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml
from sqlalchemy import func, select

from .db import Database, ExposureRow
from .events import utcnow
from .scoring import ScoringParams

_PARAM_NAMES = {f.name for f in fields(ScoringParams)}


@dataclass(frozen=True)
class Variant:
    name: str
    weight: float = 1.0
    params: dict = field(default_factory=dict)
    prompt_version: int | None = None

    def scoring_params(self, base: ScoringParams) -> ScoringParams:
        return replace(base, **self.params)


@dataclass(frozen=True)
class Experiment:
    name: str
    variants: tuple[Variant, ...]
    salt: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if not self.variants:
            raise ValueError(f"experiment {self.name!r} has no variants")
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"experiment {self.name!r} repeats a variant name")
        for v in self.variants:
            unknown = set(v.params) - _PARAM_NAMES
            if unknown:
                raise ValueError(
                    f"variant {v.name!r} sets unknown scoring params {sorted(unknown)}"
                )
            if v.weight < 0:
                raise ValueError(f"variant {v.name!r} has a negative weight")

    def bucket(self, user_id: str) -> float:
        """A uniform number in [0, 1) that depends only on experiment, salt and user."""
        digest = hashlib.sha256(f"{self.name}:{self.salt}:{user_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def assign(self, user_id: str) -> Variant:
        total = sum(v.weight for v in self.variants)
        x = self.bucket(user_id) * total
        acc = 0.0
        for v in self.variants:
            acc += v.weight
            if x < acc:
                return v
        return self.variants[-1]


def load_experiments(path: Path) -> dict[str, Experiment]:
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    out = {}
    for e in data.get("experiments", []):
        variants = tuple(
            Variant(
                v["name"],
                float(v.get("weight", 1.0)),
                dict(v.get("params") or {}),
                v.get("prompt_version"),
            )
            for v in e["variants"]
        )
        out[e["name"]] = Experiment(
            e["name"], variants, e.get("salt", ""), e.get("description", "")
        )
    return out


def _log(
    db: Database, experiment: str, variant: str, user_id: str, kind: str, product_ids: list[str]
) -> None:
    now = utcnow()
    with db.session() as s:
        s.add_all(
            ExposureRow(
                experiment=experiment,
                variant=variant,
                user_id=user_id,
                product_id=p,
                kind=kind,
                ts=now,
            )
            for p in product_ids
        )


def log_exposures(
    db: Database, experiment: str, variant: str, user_id: str, product_ids: list[str]
) -> None:
    _log(db, experiment, variant, user_id, "exposure", product_ids)


def log_click(db: Database, experiment: str, variant: str, user_id: str, product_id: str) -> None:
    _log(db, experiment, variant, user_id, "click", [product_id])


@dataclass(frozen=True)
class VariantStats:
    variant: str
    exposures: int
    clicks: int
    ctr: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class ABReport:
    experiment: str
    variants: list[VariantStats]
    z: float | None
    p_value: float | None

    def markdown(self) -> str:
        rows = ["| variant | exposures | clicks | CTR | 95% CI |", "|---|---|---|---|---|"]
        rows += [
            f"| {v.variant} | {v.exposures} | {v.clicks} | {v.ctr:.2%} | "
            f"{v.ci_low:.2%} – {v.ci_high:.2%} |"
            for v in self.variants
        ]
        if self.p_value is not None:
            rows.append(
                f"\nTwo-proportion z-test ({self.variants[0].variant} vs "
                f"{self.variants[1].variant}): z = {self.z:.3f}, p = {self.p_value:.4f}"
            )
        return "\n".join(rows)


def wilson(clicks: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    if n == 0:
        return 0.0, 0.0
    p = clicks / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def two_proportion_z(c1: int, n1: int, c2: int, n2: int) -> tuple[float, float] | None:
    if n1 == 0 or n2 == 0:
        return None
    pooled = (c1 + c2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 0.0, 1.0
    z = (c2 / n2 - c1 / n1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def ab_report(db: Database, experiment: str) -> ABReport:
    with db.session() as s:
        rows = s.execute(
            select(ExposureRow.variant, ExposureRow.kind, func.count())
            .where(ExposureRow.experiment == experiment)
            .group_by(ExposureRow.variant, ExposureRow.kind)
        ).all()
    counts: dict[str, dict[str, int]] = {}
    for variant, kind, n in rows:
        counts.setdefault(variant, {})[kind] = int(n)
    stats = []
    for variant in sorted(counts, key=lambda v: (v != "control", v)):
        n, c = counts[variant].get("exposure", 0), counts[variant].get("click", 0)
        lo, hi = wilson(c, n)
        stats.append(VariantStats(variant, n, c, c / n if n else 0.0, lo, hi))
    z = p = None
    if len(stats) >= 2:
        test = two_proportion_z(
            stats[0].clicks, stats[0].exposures, stats[1].clicks, stats[1].exposures
        )
        if test:
            z, p = test
    return ABReport(experiment, stats, z, p)
