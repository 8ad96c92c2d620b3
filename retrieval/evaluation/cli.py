"""`shopassist evaluate`: the offline protocol, baselines and the scoring core in one run."""

from __future__ import annotations

import argparse
import sys

from retrieval.settings import Settings

from .datasets import LOADERS
from .protocol import EvalConfig
from .run import MODELS, evaluate, markdown_table, write_json


def _handler(args: argparse.Namespace, settings: Settings) -> int:
    models = {m: MODELS[m] for m in args.models}
    cfg = EvalConfig(mask_history=not args.no_mask)
    rows = []
    for dataset in args.dataset:
        rows += evaluate(dataset, models, settings.data_dir, cfg, tune_params=not args.no_tune)
    sys.stdout.write(markdown_table(rows) + "\n")
    if args.json:
        write_json(rows, args.json)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="offline evaluation: the scoring core against baselines")
    p.add_argument("--dataset", nargs="+", default=["superstore"], choices=sorted(LOADERS))
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--no-tune", action="store_true", help="default hyperparameters, no grid")
    p.add_argument("--no-mask", action="store_true", help="keep train items rankable")
    p.add_argument("--json", help="write the result rows as JSON here")
    p.set_defaults(handler=_handler)
