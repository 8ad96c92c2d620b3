"""Learning the scoring core's weights: logistic regression (BCE) on logged interactions with
sampled negatives, the classic CTR set-up. Features for each target are computed only from
what happened before it, and popularity / co-purchase are fitted without the targets, so the
weights never see the future."""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from .items import ItemFeatures
from .profile import Profile
from .scoring import DEFAULT_WEIGHTS, FEATURES, Context, ScoringCore, ScoringModel

log = logging.getLogger(__name__)


@dataclass
class InteractionLog:
    """Aligned arrays: who touched which item, when (unix seconds), and how."""

    user: np.ndarray
    item: np.ndarray
    ts: np.ndarray
    kind: np.ndarray  # event type strings
    n_users: int


@dataclass
class TrainConfig:
    negatives: int = 30
    epochs: int = 400
    lr: float = 0.05
    prior_strength: float = 0.5  # L2 pull towards DEFAULT_WEIGHTS: weak data keeps the prior
    seed: int = 0
    max_users: int = 4000
    hard_pool: int = 200
    half_life_days: float = 180.0
    exclude_history: bool = True  # match a ranking that never re-shows items the user has
    holdout_users: float = 0.15


def _split_targets(log_: InteractionLog) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks: each user's last basket (same timestamp) is the target, earlier is history."""
    order = np.lexsort((log_.ts, log_.user))
    users, ts = log_.user[order], log_.ts[order]
    last_ts = np.full(log_.n_users, -np.inf)
    np.maximum.at(last_ts, users, ts)
    is_target_sorted = ts == last_ts[users]
    target = np.zeros(len(order), dtype=bool)
    target[order] = is_target_sorted
    return target, ~target


def make_examples(
    items: ItemFeatures, log_: InteractionLog, cfg: TrainConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(cfg.seed)
    target, history = _split_targets(log_)
    fitted = copy.copy(items)
    now = float(log_.ts[history].max()) if history.any() else 0.0
    fitted.fit_interactions(
        log_.user[history], log_.item[history], log_.ts[history], log_.n_users, now
    )
    core = ScoringCore(fitted)
    pop = fitted.popularity.astype(np.float64) + 1e-3
    pop /= pop.sum()
    by_user_hist: dict[int, list[int]] = {}
    for i in np.flatnonzero(history):
        by_user_hist.setdefault(int(log_.user[i]), []).append(int(i))
    by_user_tgt: dict[int, set[int]] = {}
    for i in np.flatnonzero(target):
        by_user_tgt.setdefault(int(log_.user[i]), set()).add(int(log_.item[i]))
    users = [u for u in by_user_hist if u in by_user_tgt]
    rng.shuffle(users)
    users = users[: cfg.max_users]

    xs, ys, groups = [], [], []
    n = len(items)
    for u in users:
        rows = by_user_hist[u]
        profile = Profile(str(u), fitted, half_life_days=cfg.half_life_days).add_many(
            (int(log_.item[i]), str(log_.kind[i]), float(log_.ts[i]), None) for i in rows
        )
        seen = set(profile.history) | set(profile.purchased)
        pos = [i for i in by_user_tgt[u] if not (cfg.exclude_history and i in seen)]
        if not pos:
            continue
        k = cfg.negatives
        # A third each: uniform, popularity-weighted, and hard negatives from the top of the
        # prior ranking, so the weights learn to order the head of the list, not just to tell
        # random items from bought ones.
        hard_pool = core.score(profile, Context(), np.arange(n), top=cfg.hard_pool).items
        neg = np.concatenate(
            [
                rng.integers(0, n, k // 3),
                rng.choice(n, k // 3, p=pop),
                rng.choice(hard_pool, k - 2 * (k // 3)),
            ]
        )
        banned = set(pos) | (seen if cfg.exclude_history else set())
        neg = np.array([j for j in neg if j not in banned], dtype=np.int64)
        cand = np.concatenate([np.array(pos, dtype=np.int64), neg])
        mu, sd = core.user_stats(profile)  # the same per-shopper scaling as serving
        xs.append((core.features(profile, Context(), cand) - mu) / sd)
        ys.append(np.r_[np.ones(len(pos)), np.zeros(len(neg))])
        groups.append(np.full(len(cand), u))
    if not xs:
        raise ValueError("not enough history to train: need users with at least two baskets")
    return np.concatenate(xs), np.concatenate(ys).astype(np.float32), np.concatenate(groups)


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y == 1], scores[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = np.argsort(np.argsort(np.r_[pos, neg])) + 1
    return float((ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def fit_logistic(X: np.ndarray, y: np.ndarray, cfg: TrainConfig) -> ScoringModel:
    torch.manual_seed(cfg.seed)
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std < 1e-6] = 1.0  # a constant feature carries no signal; keep its weight at zero
    Xt = torch.tensor((X - mean) / std, dtype=torch.float32)
    yt = torch.tensor(y)
    prior = torch.tensor([[DEFAULT_WEIGHTS[f] for f in FEATURES]], dtype=torch.float32)
    prior[0, torch.from_numpy(X.std(axis=0) < 1e-6)] = 0.0
    lin = torch.nn.Linear(X.shape[1], 1)
    with torch.no_grad():
        lin.weight.copy_(prior)
        lin.bias.zero_()
    opt = torch.optim.Adam(lin.parameters(), lr=cfg.lr)
    pos_weight = torch.tensor((len(y) - y.sum()) / max(y.sum(), 1.0))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    for _ in range(cfg.epochs):
        opt.zero_grad()
        loss = loss_fn(lin(Xt).squeeze(1), yt)
        (loss + cfg.prior_strength * ((lin.weight - prior) ** 2).sum()).backward()
        opt.step()
    w = lin.weight.detach().numpy().ravel().astype(np.float64)
    w[(X.std(axis=0) < 1e-6)] = 0.0
    return ScoringModel(
        w, float(lin.bias.item()), mean, std, meta={"final_loss": float(loss.item())}
    )


def train_scoring_model(
    items: ItemFeatures,
    log_: InteractionLog,
    cfg: TrainConfig | None = None,
    version: str | None = None,
) -> ScoringModel:
    cfg = cfg or TrainConfig()
    t0 = time.perf_counter()
    X, y, groups = make_examples(items, log_, cfg)
    # Validation AUC on held-out users, then refit on everyone.
    rng = np.random.default_rng(cfg.seed)
    uniq = np.unique(groups)
    held = set(rng.choice(uniq, max(1, int(len(uniq) * cfg.holdout_users)), replace=False))
    is_held = np.isin(groups, list(held))
    val_auc = float("nan")
    if (~is_held).any() and is_held.any():
        m = fit_logistic(X[~is_held], y[~is_held], cfg)
        s = ((X[is_held] - m.mean) / m.std) @ m.weights + m.bias
        val_auc = _auc(s, y[is_held])
    model = fit_logistic(X, y, cfg)
    model.version = version or time.strftime("v%Y%m%d-%H%M%S")
    model.meta.update(
        {
            "examples": int(len(y)),
            "positives": int(y.sum()),
            "users": int(len(uniq)),
            "validation_auc": round(val_auc, 4),
            "seconds": round(time.perf_counter() - t0, 2),
            "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        }
    )
    log.info(
        "trained scoring model %s: %s",
        model.version,
        dict(zip(FEATURES, np.round(model.weights, 3), strict=True)),
    )
    return model


def calibrated_default(items: ItemFeatures, log_: InteractionLog) -> ScoringModel:
    """Default weights on this data's feature scale, for when no trained model exists yet."""
    model = ScoringModel.default()
    try:
        X, _, _ = make_examples(items, log_, TrainConfig(negatives=10, max_users=500))
    except ValueError:
        return model
    model.mean = X.mean(axis=0)
    std = X.std(axis=0)
    std[std < 1e-6] = 1.0
    model.std = std
    return model
