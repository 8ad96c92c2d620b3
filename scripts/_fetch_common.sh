# Sourced by the fetch scripts: arguments, the raw folder, a temp dir removed on exit, and verify().
# Usage (from a script): source "$(dirname "$0")/_fetch_common.sh" "$@"
set -euo pipefail
DATA_DIR=${1:-data}
PIP=${2:-.venv/bin/pip}
RAW="$DATA_DIR/raw"
mkdir -p "$RAW"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

verify() {  # file expected-sha
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  if [ "$got" != "$2" ]; then
    echo "checksum mismatch for $1: got $got, expected $2" >&2
    exit 1
  fi
}
