#!/usr/bin/env bash
# Run notebooks top to bottom and save them with their outputs, as nbval expects them.
# Usage: scripts/run_notebooks.sh [notebooks/NN_name.ipynb ...]   (default: all of them)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"  # thread count changes the 4th decimal: save as CI runs
[ -n "${ATTENTION_PLAYGROUND_DATA:-}" ] || { [ -d ../shared/data ] && export ATTENTION_PLAYGROUND_DATA="$(realpath ../shared/data)"; } || true
[ -n "${TIKTOKEN_CACHE_DIR:-}" ] || { [ -d ../shared/data/tiktoken_cache ] && export TIKTOKEN_CACHE_DIR="$(realpath ../shared/data/tiktoken_cache)"; } || true
PY="${PYTHON:-.venv/bin/python}"
if [ "$#" -eq 0 ]; then set -- notebooks/*.ipynb; fi
for nb in "$@"; do
  start=$(date +%s)
  "$PY" -m jupyter nbconvert --to notebook --execute --inplace \
    --ExecutePreprocessor.kernel_name=python3 \
    --ExecutePreprocessor.timeout=600 \
    --ExecutePreprocessor.store_widget_state=False \
    --log-level=WARN "$nb"
  echo "$nb: $(( $(date +%s) - start )) s"
done
