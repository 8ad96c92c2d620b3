"""Boundary data types of the offline evaluation: interactions with item side-info, and splits."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class InteractionData:
    """Implicit-feedback interactions over a fixed user and item index.

    Users and items are dense ints in [0, n_users) and [0, n_items). The item index covers the
    whole catalogue of the data set, including items seen only in the test set, so a content-aware
    model can still rank them. Side-info lists are indexed by item int.
    """

    n_users: int
    n_items: int
    user: np.ndarray  # int64, one entry per interaction (repeats allowed)
    item: np.ndarray  # int64
    ts: np.ndarray  # float64 unix seconds; 0.0 where the data set has no time
    user_ids: list[str]
    item_ids: list[str]
    item_text: list[str]  # what an embedding model should see for the item
    item_category: list[str]  # a coarse category; "unknown" where none can be derived
    item_price: np.ndarray | None = None  # float64 per item, NaN where unknown
    _csr: sp.csr_matrix | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.user = np.asarray(self.user, dtype=np.int64)
        self.item = np.asarray(self.item, dtype=np.int64)
        self.ts = np.asarray(self.ts, dtype=np.float64)
        if not (len(self.user) == len(self.item) == len(self.ts)):
            raise ValueError("user, item and ts must have the same length")
        if len(self.user_ids) != self.n_users:
            raise ValueError("user_ids must have n_users entries")
        for name in ("item_ids", "item_text", "item_category"):
            if len(getattr(self, name)) != self.n_items:
                raise ValueError(f"{name} must have n_items entries")
        if self.item_price is not None and len(self.item_price) != self.n_items:
            raise ValueError("item_price must have n_items entries")

    def __len__(self) -> int:
        return len(self.user)

    def user_items(self) -> sp.csr_matrix:
        """(n_users, n_items) CSR of interaction counts; cached, treat as read-only."""
        if self._csr is None:
            m = sp.csr_matrix(
                (np.ones(len(self.user), dtype=np.float32), (self.user, self.item)),
                shape=(self.n_users, self.n_items),
            )
            m.sum_duplicates()
            self._csr = m
        return self._csr

    def binary_user_items(self) -> sp.csr_matrix:
        """Like `user_items` but 1.0 wherever the user interacted at least once."""
        m = self.user_items().copy()
        m.data[:] = 1.0
        return m

    def subset(self, keep: np.ndarray) -> InteractionData:
        """The same index and side-info with only the interactions where `keep` is True."""
        return InteractionData(
            n_users=self.n_users,
            n_items=self.n_items,
            user=self.user[keep],
            item=self.item[keep],
            ts=self.ts[keep],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            item_text=self.item_text,
            item_category=self.item_category,
            item_price=self.item_price,
        )


@dataclass
class Split:
    """Train interactions plus held-out targets per user (user int -> set of item ints).

    `valid`, when present, is a Split of its own: its `train` is this train minus each user's
    second-to-last event and its `test` is that event, so models are tuned without the test set.
    """

    name: str
    train: InteractionData
    test: dict[int, set[int]]
    valid: Split | None = None
    notes: dict[str, float | int | str] = field(default_factory=dict)

    def check(self) -> None:
        """Raise if a test user or item falls outside the train index.

        Leakage (a held-out event also in train) is ruled out by construction in `splitting.py`
        and tested per data set; repeat purchases of an item are legitimate and are reported.
        """
        for u, items in self.test.items():
            if not 0 <= u < self.train.n_users:
                raise ValueError(f"test user {u} out of range")
            if any(not 0 <= i < self.train.n_items for i in items):
                raise ValueError(f"test item out of range for user {u}")
