"""Runner: tune on validation, fit on train, score on test; print a markdown table, write JSON.

Adding a model is one line: `models = {**BASELINES, "core": ModelSpec(make_core)}` (or a bare
zero-argument factory). `python -m retrieval.evaluation.run --data-dir data` runs the baselines.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from retrieval.evaluation.baselines import ALS, BPR, ItemKNN, Popularity
from retrieval.evaluation.core import CoreRecommender
from retrieval.evaluation.data import Split
from retrieval.evaluation.datasets import LOADERS, load
from retrieval.evaluation.protocol import EvalConfig, Recommender, evaluate_model

log = logging.getLogger(__name__)

ModelFactory = Callable[..., Recommender]


@dataclass(frozen=True)
class ModelSpec:
    """A factory plus the hyperparameter grid searched on the validation split (empty = none)."""

    factory: ModelFactory
    grid: Mapping[str, list[Any]] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)  # passed on every call

    def candidates(self) -> list[dict[str, Any]]:
        keys = list(self.grid)
        return [
            dict(zip(keys, vals, strict=True)) for vals in itertools.product(*self.grid.values())
        ]

    def make(self, **params: Any) -> Recommender:
        return self.factory(**{**self.fixed, **params})


def spec_of(cls: type) -> ModelSpec:
    return ModelSpec(cls, getattr(cls, "param_grid", {}))


BASELINES: dict[str, ModelSpec] = {
    "popularity": spec_of(Popularity),
    "itemknn": spec_of(ItemKNN),
    "bpr": spec_of(BPR),
    "als": spec_of(ALS),
}
MODELS: dict[str, ModelSpec] = {**BASELINES, "core": spec_of(CoreRecommender)}


@dataclass
class ResultRow:
    dataset: str
    model: str
    recall: float
    ndcg: float
    coverage: float
    long_tail: float
    n_users: int
    recall_se: float
    ndcg_se: float
    fit_s: float  # fit time of the final model on the full train split
    params: dict[str, Any]
    valid_ndcg: float | None  # NDCG@k of the chosen params on the validation split
    tune_s: float
    k: int
    mask_history: bool
    target_repeat_share: float


def tune(spec: ModelSpec, split: Split, cfg: EvalConfig) -> tuple[dict[str, Any], float | None]:
    """Grid-search `spec` on `split.valid` by NDCG@k; never touches the test targets."""
    candidates = spec.candidates()
    if len(candidates) <= 1 or split.valid is None or not split.valid.test:
        return (candidates[0] if candidates else {}), None
    best, best_ndcg = candidates[0], -1.0
    for params in candidates:
        model = spec.make(**params)
        model.fit(split.valid.train)
        m = evaluate_model(model, split.valid.train, split.valid.test, cfg)
        log.info("tune %s %s: valid ndcg=%.4f recall=%.4f", model.name, params, m.ndcg, m.recall)
        if m.ndcg > best_ndcg:
            best, best_ndcg = params, m.ndcg
    return best, best_ndcg


def evaluate_split(
    split: Split,
    models: Mapping[str, ModelSpec | ModelFactory],
    cfg: EvalConfig | None = None,
    tune_params: bool = True,
) -> list[ResultRow]:
    cfg = cfg or EvalConfig()
    rows = []
    for name, spec in models.items():
        spec = spec if isinstance(spec, ModelSpec) else ModelSpec(spec)
        t0 = time.perf_counter()
        params, valid_ndcg = tune(spec, split, cfg) if tune_params else ({}, None)
        tune_s = time.perf_counter() - t0
        model = spec.make(**params)
        t0 = time.perf_counter()
        model.fit(split.train)
        fit_s = time.perf_counter() - t0
        m = evaluate_model(model, split.train, split.test, cfg)
        log.info("%s %s: %s (fit %.1fs)", split.name, name, m, fit_s)
        rows.append(
            ResultRow(
                dataset=split.name,
                model=name,
                **asdict(m),
                fit_s=fit_s,
                params=params,
                valid_ndcg=valid_ndcg,
                tune_s=tune_s,
                k=cfg.k,
                mask_history=cfg.mask_history,
                target_repeat_share=float(split.notes.get("target_repeat_share", 0.0)),
            )
        )
    return rows


def evaluate(
    dataset: str,
    models: Mapping[str, ModelSpec | ModelFactory],
    data_dir: str | Path,
    cfg: EvalConfig | None = None,
    tune_params: bool = True,
) -> list[ResultRow]:
    """Load `dataset` from DATA_DIR/raw and evaluate every model on its test split."""
    return evaluate_split(load(dataset, data_dir), models, cfg, tune_params)


def markdown_table(rows: list[ResultRow]) -> str:
    k = rows[0].k if rows else 10
    head = (
        f"| dataset | model | Recall@{k} ± SE | NDCG@{k} ± SE | coverage@{k} | long-tail share "
        "| fit s | params |\n|---|---|---|---|---|---|---|---|"
    )
    lines = [
        f"| {r.dataset} | {r.model} | {r.recall:.4f} ± {r.recall_se:.4f} "
        f"| {r.ndcg:.4f} ± {r.ndcg_se:.4f} | {r.coverage:.3f} "
        f"| {r.long_tail:.3f} | {r.fit_s:.2f} | {_fmt_params(r.params)} |"
        for r in rows
    ]
    return "\n".join([head, *lines])


def _fmt_params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items()) or "-"


def write_json(rows: list[ResultRow], path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps([asdict(r) for r in rows], indent=2))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Offline evaluation of the recommender baselines.")
    p.add_argument("--data-dir", default="data", help="directory holding raw/")
    p.add_argument("--datasets", nargs="+", default=sorted(LOADERS), choices=sorted(LOADERS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--no-tune", action="store_true", help="use default hyperparameters")
    p.add_argument("--no-mask", action="store_true", help="keep train items rankable")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cfg = EvalConfig(mask_history=not args.no_mask)
    models = {m: MODELS[m] for m in args.models}
    rows = [
        r for d in args.datasets for r in evaluate(d, models, args.data_dir, cfg, not args.no_tune)
    ]
    print(markdown_table(rows))
    if args.json:
        write_json(rows, args.json)


if __name__ == "__main__":
    main()
