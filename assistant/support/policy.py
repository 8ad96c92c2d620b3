"""The store's return and refund policy as typed data. Code applies it; `knowledge/returns.md`
states the same numbers in prose (a test keeps the two in step)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReturnPolicy:
    # Days after delivery within which a return may be started (the last day included).
    window_days: int = 30
    technology_window_days: int = 15
    technology_categories: frozenset[str] = frozenset({"Technology", "Electronics"})
    # Furniture must come back unassembled, and is refunded minus a restocking fee.
    furniture_categories: frozenset[str] = frozenset({"Furniture"})
    restocking_fee_rate: float = 0.10
    # Consumables are only returnable unopened (hygiene and resale).
    unopened_only_sub_categories: frozenset[str] = frozenset(
        {"Paper", "Labels", "Envelopes", "Art", "Fasteners"}
    )
    refund_business_days_min: int = 5
    refund_business_days_max: int = 10
    refund_method: str = "the original payment method"

    def window_for(self, category: str) -> int:
        return (
            self.technology_window_days
            if category in self.technology_categories
            else self.window_days
        )


DEFAULT_POLICY = ReturnPolicy()
