"""Loaders for the three offline-evaluation data sets; each returns a leave-last-out `Split`.

Files come from `scripts/fetch_eval_data.sh` (MovieLens-100k, Online Retail) and
`scripts/fetch_data.sh` (Superstore), all under DATA_DIR/raw; nothing is fetched here.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd

from retrieval.evaluation.data import InteractionData, Split
from retrieval.evaluation.splitting import leave_last_event_out

log = logging.getLogger(__name__)

SUPERSTORE_CSV = Path("raw/superstore/package/superstore.csv")
ML100K_DIR = Path("raw/ml-100k")
ONLINE_RETAIL_TAR = Path("raw/online-retail/Online_Retail_Grouped.tar.xz")
RETAIL_SEED = 20240607  # fixes which basket item is held out


def _to_unix(dates: pd.Series) -> np.ndarray:
    return (pd.to_datetime(dates) - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy()


def load_superstore(csv_path: str | Path) -> Split:
    """Order lines as purchases; users = Customer ID; the test target is the user's last ORDER.

    All lines of the last order (by Order Date, ties by Order ID) form the test set; the
    second-to-last order is the validation target.
    """
    df = pd.read_csv(csv_path, dtype={"Order ID": str, "Customer ID": str, "Product ID": str})
    df = df.sort_values("Row ID", kind="stable").reset_index(drop=True)
    users, user_idx = np.unique(df["Customer ID"].to_numpy(), return_inverse=True)
    items, item_idx = np.unique(df["Product ID"].to_numpy(), return_inverse=True)
    orders, order_idx = np.unique(df["Order ID"].to_numpy(), return_inverse=True)

    # ~30 product ids carry two names: keep the most frequent (then first-seen) one.
    df["item"] = item_idx
    first = (
        df.groupby(["item", "Product Name"], sort=False)
        .size()
        .rename("n")
        .reset_index()
        .sort_values(["item", "n"], ascending=[True, False], kind="stable")
        .drop_duplicates("item")
        .set_index("item")
    )
    meta = df.drop_duplicates("item").set_index("item").sort_index()
    names = first["Product Name"].reindex(range(len(items))).tolist()
    # Unit list price = Sales / Quantity / (1 - Discount); the median absorbs the odd outlier.
    unit = df["Sales"] / df["Quantity"] / (1.0 - df["Discount"])
    price = unit.groupby(df["item"]).median().reindex(range(len(items))).to_numpy(np.float64)

    data = InteractionData(
        n_users=len(users),
        n_items=len(items),
        user=user_idx,
        item=item_idx,
        ts=_to_unix(df["Order Date"]),
        user_ids=users.tolist(),
        item_ids=items.tolist(),
        item_text=[
            f"{n}. {c} / {s}"
            for n, c, s in zip(names, meta["Category"], meta["Sub-Category"], strict=True)
        ],
        item_category=meta["Sub-Category"].tolist(),
        item_price=price,
    )
    # Order IDs are sorted strings, so their index is a deterministic same-day tiebreak.
    return leave_last_event_out("superstore", data, event=order_idx, tiebreak=order_idx)


def load_ml100k(directory: str | Path) -> Split:
    """All MovieLens-100k ratings as implicit interactions; the last one by timestamp is the test.

    Many users rate several movies in the same second, so ties are broken by item id (ascending;
    the largest id counts as last) rather than by file order.
    """
    directory = Path(directory)
    inter = pd.read_csv(directory / "ml-100k.inter", sep="\t", dtype=str)
    inter.columns = [c.split(":")[0] for c in inter.columns]
    item_meta = pd.read_csv(
        directory / "ml-100k.item",
        sep="\t",
        dtype=str,
        keep_default_na=False,
        quoting=csv.QUOTE_NONE,
    )
    item_meta.columns = [c.split(":")[0] for c in item_meta.columns]

    # Catalogue = every movie in the item file plus any rated id it lacks, sorted numerically.
    all_ids = sorted(set(item_meta["item_id"]) | set(inter["item_id"]), key=int)
    item_pos = {iid: k for k, iid in enumerate(all_ids)}
    users = sorted(set(inter["user_id"]), key=int)
    user_pos = {uid: k for k, uid in enumerate(users)}

    meta = item_meta.set_index("item_id")
    texts, cats = [], []
    for iid in all_ids:
        if iid not in meta.index:
            texts.append(f"movie {iid}")
            cats.append("unknown")
            continue
        row = meta.loc[iid]
        genres = row["class"].split()
        year = f" ({row['release_year']})" if row["release_year"] else ""
        texts.append(f"{row['movie_title']}{year}. Genres: {', '.join(genres) or 'unknown'}")
        cats.append(genres[0] if genres else "unknown")

    item = inter["item_id"].map(item_pos).to_numpy()
    data = InteractionData(
        n_users=len(users),
        n_items=len(all_ids),
        user=inter["user_id"].map(user_pos).to_numpy(),
        item=item,
        ts=inter["timestamp"].astype(float).to_numpy(),
        user_ids=users,
        item_ids=all_ids,
        item_text=texts,
        item_category=cats,
        item_price=None,
    )
    # Each rating is its own event.
    return leave_last_event_out("ml-100k", data, event=np.arange(len(item)), tiebreak=item)


_RETAIL_CATEGORIES: dict[str, tuple[str, ...]] = {
    "lighting": ("LIGHT", "CANDLE", "CANDLES", "LANTERN", "LAMP", "CANDELABRA", "NIGHTLIGHT"),
    "bags": ("BAG", "BAGS", "TOTE", "SHOPPER", "PURSE", "RUCKSACK", "BACKPACK"),
    "kitchen & dining": (
        "MUG", "CUP", "CUPS", "PLATE", "PLATES", "BOWL", "CAKESTAND", "TIN", "TINS", "JAR",
        "TEAPOT", "NAPKINS", "CUTLERY", "BOTTLE", "SPOON", "SPOONS", "JUG", "APRON", "TRAY",
        "DOILY", "DOILIES", "CASES", "CAKE", "BAKING", "SAUCER", "GLASS", "TUMBLER", "COASTER",
    ),
    "stationery & wrap": (
        "CARD", "CARDS", "PAPER", "NOTEBOOK", "PEN", "PENCIL", "PENCILS", "WRAP", "STICKERS",
        "ENVELOPE", "TAPE", "CALENDAR", "BOOK", "NOTEPAD", "RIBBON", "RIBBONS", "TISSUES",
    ),
    "storage": ("BOX", "BOXES", "BASKET", "DRAWER", "STORAGE", "HOOK", "HOOKS", "KNOB", "HANGER", "CRATE"),
    "textiles": ("CUSHION", "BLANKET", "TOWEL", "THROW", "QUILT", "SCARF", "GLOVES"),
    "toys & games": ("TOY", "GAME", "DOLL", "PUZZLE", "PUZZLES", "SKITTLES", "DOMINOES", "KIT"),
    "jewellery & accessories": ("NECKLACE", "BRACELET", "EARRINGS", "RING", "HAIR", "CLIP", "UMBRELLA"),
    "garden": ("GARDEN", "PLANT", "POT", "POTS", "WATERING", "PLANTER", "BIRD"),
    "decoration": (
        "ORNAMENT", "DECORATION", "BUNTING", "GARLAND", "WREATH", "SIGN", "FRAME", "CLOCK",
        "MIRROR", "VASE", "HEART", "CHRISTMAS", "BELL", "STAR", "DOORSTOP", "MAGNET",
    ),
}  # fmt: skip
_WORD_TO_CATEGORY = {w: c for c, words in _RETAIL_CATEGORIES.items() for w in words}


def retail_category(description: str) -> str:
    """A coarse category from a product description, or "unknown".

    English product names put the head noun last ("HEART T-LIGHT HOLDER"), so the rightmost word
    that names a category wins.
    """
    for word in reversed(re.findall(r"[A-Z]+", description.upper())):
        if word in _WORD_TO_CATEGORY:
            return _WORD_TO_CATEGORY[word]
    return "unknown"


def read_retail_baskets(path: str | Path) -> list[list[str]]:
    with tarfile.open(path, "r:xz") as tar:
        member = tar.extractfile("Online_Retail_Grouped.csv")
        if member is None:
            raise FileNotFoundError(f"Online_Retail_Grouped.csv missing from {path}")
        rows = list(csv.reader(io.StringIO(member.read().decode("utf-8"))))
    # Descriptions carry stray whitespace; de-duplicate within a basket after cleaning.
    return [list(dict.fromkeys(" ".join(x.split()) for x in row if x.strip())) for row in rows]


def load_online_retail(path: str | Path, seed: int = RETAIL_SEED) -> Split:
    """Customer baskets without dates: leave one item out per basket (basket = user).

    Each basket's items get a seeded random order, and the "last" of that order is held out
    (second-to-last for validation), so the split is deterministic for a given seed.
    """
    baskets = read_retail_baskets(path)
    items = sorted({x for b in baskets for x in b})
    pos = {x: k for k, x in enumerate(items)}
    user = np.repeat(np.arange(len(baskets)), [len(b) for b in baskets])
    item = np.fromiter((pos[x] for b in baskets for x in b), dtype=np.int64, count=len(user))
    rng = np.random.default_rng(seed)
    data = InteractionData(
        n_users=len(baskets),
        n_items=len(items),
        user=user,
        item=item,
        ts=np.zeros(len(user)),
        user_ids=[f"basket-{k:04d}" for k in range(len(baskets))],
        item_ids=items,
        item_text=[x.capitalize() for x in items],
        item_category=[retail_category(x) for x in items],
        item_price=None,
    )
    order = rng.permutation(len(user))
    return leave_last_event_out("online-retail", data, event=np.arange(len(user)), tiebreak=order)


LOADERS = {
    "superstore": lambda data_dir: load_superstore(Path(data_dir) / SUPERSTORE_CSV),
    "ml-100k": lambda data_dir: load_ml100k(Path(data_dir) / ML100K_DIR),
    "online-retail": lambda data_dir: load_online_retail(Path(data_dir) / ONLINE_RETAIL_TAR),
}


def load(dataset: str, data_dir: str | Path) -> Split:
    """Load a data set by name from DATA_DIR (the directory holding `raw/`)."""
    try:
        loader = LOADERS[dataset]
    except KeyError:
        raise ValueError(f"unknown data set {dataset!r}; known: {sorted(LOADERS)}") from None
    return loader(data_dir)
