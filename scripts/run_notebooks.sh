#!/usr/bin/env bash
# Run notebooks top to bottom with nbconvert, time each run and write the times down
# (scripts/run_notebooks.py does the work; this sets the environment CI uses).
#   scripts/run_notebooks.sh [NB ...]          run and save them in place, with outputs, as nbval expects,
#                                              and write each measured run time into the notebook's
#                                              opening cell (and, after a run of all, into README.md's
#                                              course table; after notebook 08, its ablation table too)
#   scripts/run_notebooks.sh --check [NB ...]  run them and fail on any error; write nothing
# Default: every notebook in notebooks/.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"  # thread count changes the 4th decimal: save as CI runs
if [ -z "${ATTENTION_PLAYGROUND_DATA:-}" ] && [ -d ../shared/data ]; then
  export ATTENTION_PLAYGROUND_DATA="$(realpath ../shared/data)"
fi
if [ -z "${TIKTOKEN_CACHE_DIR:-}" ] && [ -d ../shared/data/tiktoken_cache ]; then
  export TIKTOKEN_CACHE_DIR="$(realpath ../shared/data/tiktoken_cache)"
fi
PY="${PYTHON:-.venv/bin/python}"
exec "$PY" scripts/run_notebooks.py "$@"
