"""The store's clock. The demo data is historical (Superstore ends 2017-12-30), so the store's
"now" is a fixed day plus real elapsed time; production stores use the real clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class StoreClock:
    today_override: date | None = None

    def now(self) -> datetime:
        real = datetime.now(UTC).replace(tzinfo=None)
        if self.today_override is None:
            return real
        # Keep the real time of day so live events stay ordered within the demo day.
        return datetime.combine(self.today_override, real.time())

    def today(self) -> date:
        return self.now().date()

    def days_since(self, when: date) -> int:
        return (self.today() - when).days

    def shifted(self, days: int) -> StoreClock:
        return StoreClock(self.today() + timedelta(days=days))
