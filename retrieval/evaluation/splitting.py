"""Leave-last-event-out splitting shared by the loaders.

An "event" is a group of interactions that happen together: one order (Superstore), one rating
(MovieLens) or one basket item (Online Retail). Per user, events are ordered by (ts, tiebreak);
the last event is the test target and the second-to-last the validation target. A user needs at
least 2 events to be tested and 3 to be validated, so each evaluated user keeps some train history.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from retrieval.evaluation.data import InteractionData, Split

log = logging.getLogger(__name__)


def _targets(user: np.ndarray, item: np.ndarray, mask: np.ndarray) -> dict[int, set[int]]:
    out: dict[int, set[int]] = {}
    for u, i in zip(user[mask].tolist(), item[mask].tolist(), strict=True):
        out.setdefault(u, set()).add(i)
    return out


def leave_last_event_out(
    name: str,
    data: InteractionData,
    event: np.ndarray,
    tiebreak: np.ndarray,
) -> Split:
    """Split `data` (all interactions) into train / valid / test by each user's last events.

    `event` labels the event each interaction belongs to (an int; all interactions of one event
    share one user and one ts). `tiebreak` orders events with equal ts deterministically: it must
    be constant within an event.
    """
    df = pd.DataFrame({"u": data.user, "ts": data.ts, "e": event, "tb": tiebreak})
    ev = df.drop_duplicates("e").sort_values(["u", "ts", "tb", "e"], kind="stable")
    # rank 0 = the user's last event, 1 = second-to-last, ...
    ev["rank"] = ev.groupby("u").cumcount(ascending=False)
    ev["n"] = ev.groupby("u")["e"].transform("size")
    rank = pd.Series(ev["rank"].to_numpy(), index=ev["e"].to_numpy())
    n_ev = pd.Series(ev["n"].to_numpy(), index=ev["e"].to_numpy())
    r = rank.reindex(event).to_numpy()
    n = n_ev.reindex(event).to_numpy()

    is_test = (r == 0) & (n >= 2)
    is_valid = (r == 1) & (n >= 3)
    train = data.subset(~is_test)
    valid_train = data.subset(~is_test & ~is_valid)
    test = _targets(data.user, data.item, is_test)
    valid = _targets(data.user, data.item, is_valid)

    notes = _describe(train, test)
    split = Split(
        name=name,
        train=train,
        test=test,
        valid=Split(f"{name}/valid", valid_train, valid, notes=_describe(valid_train, valid)),
        notes=notes,
    )
    split.check()
    log.info("%s: %s", name, notes)
    return split


def _describe(train: InteractionData, test: dict[int, set[int]]) -> dict[str, float | int | str]:
    """Counts worth reporting next to the metrics, including how often targets are repeats."""
    ui = train.binary_user_items()
    n_targets = sum(len(s) for s in test.values())
    repeats = sum(ui[u, list(s)].sum() for u, s in test.items()) if test else 0
    return {
        "n_users": train.n_users,
        "n_items": train.n_items,
        "n_train": len(train),
        "n_test_users": len(test),
        "n_targets": n_targets,
        # Targets the user already had in train: unreachable when history is masked.
        "target_repeat_share": float(repeats / n_targets) if n_targets else 0.0,
    }
