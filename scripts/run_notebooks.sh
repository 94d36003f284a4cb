#!/usr/bin/env bash
# Run notebooks top to bottom with `jupyter nbconvert --execute`.
#   scripts/run_notebooks.sh [NB ...]          run and save them in place, with outputs, as nbval expects
#   scripts/run_notebooks.sh --check [NB ...]  run them into a temporary folder and fail on any error
#                                              (catches what nbval lets pass, such as an unknown %magic)
# Default: every notebook in notebooks/.
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
if [ "${1:-}" = "--check" ]; then check=1; shift; fi
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"  # thread count changes the 4th decimal: save as CI runs
if [ -z "${ATTENTION_PLAYGROUND_DATA:-}" ] && [ -d ../shared/data ]; then
  export ATTENTION_PLAYGROUND_DATA="$(realpath ../shared/data)"
fi
if [ -z "${TIKTOKEN_CACHE_DIR:-}" ] && [ -d ../shared/data/tiktoken_cache ]; then
  export TIKTOKEN_CACHE_DIR="$(realpath ../shared/data/tiktoken_cache)"
fi
PY="${PYTHON:-.venv/bin/python}"
if [ "$#" -eq 0 ]; then set -- notebooks/*.ipynb; fi
out=""
if [ "$check" = 1 ]; then out="$(mktemp -d)"; trap 'rm -rf "$out"' EXIT; fi
for nb in "$@"; do
  start=$(date +%s)
  if [ "$check" = 1 ]; then
    where=(--output-dir "$out")
  else
    where=(--inplace)
  fi
  # cwd stays the notebook's folder, as in JupyterLab, so relative links and paths behave the same
  "$PY" -m jupyter nbconvert --to notebook --execute "${where[@]}" \
    --ExecutePreprocessor.kernel_name=python3 \
    --ExecutePreprocessor.timeout=600 \
    --ExecutePreprocessor.record_timing=False \
    --log-level=WARN "$nb"
  # nbclient 0.11 fails on interactive widgets unless it stores their state: store it, then drop it,
  # so saved notebooks carry no widget state (JupyterLab rebuilds widgets when the cell runs)
  if [ "$check" = 0 ]; then
    "$PY" -c 'import sys, nbformat
nb = nbformat.read(sys.argv[1], as_version=4)
nb.metadata.pop("widgets", None)
nbformat.write(nb, sys.argv[1])' "$nb"
  fi
  echo "$nb: executed in $(( $(date +%s) - start )) s"
done
