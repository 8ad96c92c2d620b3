"""Shopper profiles: time-decayed affinities, a price band and a profile vector.

Accumulators are kept un-normalised with weights that grow as 2^((t - ref) / half_life);
normalising at read time is the same as decaying everything older, so adding an event is O(1)
and the next ranking sees it at once (no rebuild).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .items import ItemFeatures

EVENT_WEIGHTS: dict[str, float] = {
    "purchase": 1.0,
    "add_to_cart": 0.7,
    "click": 0.4,
    "chat_mention": 0.3,
    "view": 0.2,
}
DEFAULT_HALF_LIFE_DAYS = 180.0


@dataclass
class Profile:
    user_id: str
    items: ItemFeatures = field(repr=False)
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    ref_ts: float | None = None
    n_events: int = 0
    last_ts: float | None = None
    total: float = 0.0
    history: dict[int, float] = field(default_factory=dict)  # item → decayed weight
    purchased: dict[int, float] = field(default_factory=dict)  # item → last purchase ts
    session_items: list[int] = field(default_factory=list)
    current_session: str | None = None

    def __post_init__(self) -> None:
        d = self.items.vectors.shape[1]
        self.vec_sum = np.zeros(d, dtype=np.float64)
        self.cat = np.zeros(len(self.items.category_names) or 1)
        self.sub = np.zeros(len(self.items.sub_category_names) or 1)
        self.brand = np.zeros(max(len(self.items.brand_names), 1))
        self.price_w = self.price_sum = self.price_sq = 0.0

    @property
    def is_cold(self) -> bool:
        return self.n_events == 0

    def _weight(self, event_type: str, ts: float) -> float:
        if self.ref_ts is None:
            self.ref_ts = ts
        exponent = (ts - self.ref_ts) / (self.half_life_days * 86400.0)
        return EVENT_WEIGHTS.get(event_type, 0.0) * math.pow(2.0, max(min(exponent, 60), -60))

    def add(self, item: int, event_type: str, ts: float, session_id: str | None = None) -> None:
        """Fold one event in. Unknown event types (e.g. `search`) carry no item weight."""
        w = self._weight(event_type, ts)
        if session_id is not None and session_id != self.current_session:
            self.current_session, self.session_items = session_id, []
        if session_id is not None and event_type != "purchase":
            self.session_items.append(item)
        if event_type == "purchase":
            self.purchased[item] = max(ts, self.purchased.get(item, ts))
        self.n_events += 1
        self.last_ts = ts if self.last_ts is None else max(self.last_ts, ts)
        if w <= 0:
            return
        it = self.items
        self.total += w
        self.history[item] = self.history.get(item, 0.0) + w
        self.vec_sum += w * it.vectors[item]
        self.cat[it.category[item]] += w
        self.sub[it.sub_category[item]] += w
        if it.brand[item] >= 0:
            self.brand[it.brand[item]] += w
        if it.has_price[item]:
            lp = it.log_price[item]
            self.price_w += w
            self.price_sum += w * lp
            self.price_sq += w * lp * lp

    def add_many(self, events: Iterable[tuple[int, str, float, str | None]]) -> Profile:
        for item, kind, ts, session in sorted(events, key=lambda e: e[2]):
            self.add(item, kind, ts, session)
        return self

    # Normalised views -------------------------------------------------------------------
    def vector(self) -> np.ndarray | None:
        n = np.linalg.norm(self.vec_sum)
        return (self.vec_sum / n).astype(np.float32) if n > 0 else None

    def _share(self, arr: np.ndarray) -> np.ndarray:
        s = arr.sum()
        return arr / s if s > 0 else arr

    def category_share(self) -> np.ndarray:
        return self._share(self.cat)

    def sub_category_share(self) -> np.ndarray:
        return self._share(self.sub)

    def brand_share(self) -> np.ndarray:
        return self._share(self.brand)

    def price_band(self) -> tuple[float, float] | None:
        """(mean, std) of log(1 + price), purchase-weighted and decayed."""
        if self.price_w <= 0:
            return None
        mu = self.price_sum / self.price_w
        var = max(self.price_sq / self.price_w - mu * mu, 0.0)
        return mu, max(math.sqrt(var), 0.35)  # floor: one purchase is not a tight band

    def history_weights(self) -> tuple[np.ndarray, np.ndarray]:
        if not self.history:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx = np.fromiter(self.history.keys(), dtype=np.int64)
        w = np.fromiter(self.history.values(), dtype=np.float64)
        return idx, w / w.sum()

    def explain(self) -> str:
        """One line a shopper (or an engineer) can read: what this profile is made of."""
        if self.is_cold:
            return "new visitor: no history yet, showing popular and diverse picks"
        it = self.items
        parts = []
        cat_share, sub_share = self.category_share(), self.sub_category_share()
        if cat_share.sum() > 0:
            c = int(np.argmax(cat_share))
            s = int(np.argmax(sub_share))
            parts.append(
                f"mostly shops for {it.category_names[c]} → {it.sub_category_names[s]} "
                f"({sub_share[s]:.0%} of recent interest)"
            )
        brand_share = self.brand_share()
        if brand_share.sum() > 0 and brand_share.max() >= 0.2:
            parts.append(f"likes {it.brand_names[int(np.argmax(brand_share))]}")
        band = self.price_band()
        if band:
            parts.append(f"around ${math.expm1(band[0]):,.0f}")
        return ", ".join(parts) or f"{self.n_events} events"

    def top_sub_categories(self, n: int = 3) -> list[str]:
        share = self.sub_category_share()
        order = np.argsort(-share)[:n]
        return [self.items.sub_category_names[i] for i in order if share[i] > 0]
