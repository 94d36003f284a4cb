#!/usr/bin/env bash
# Issue 18's figures, measured on a quiet machine (run nothing else meanwhile); each stage writes its
# output to runs/issue18/ and the tables into the files named below.
#   scripts/measure_budget.sh tune    tune_budget.py: 15 recipes x 5 min, one after another (~77 min);
#                                     writes docs/benchmarks.md's budget-tuning table. If another
#                                     recipe wins, put it in the `budget` preset (config.py) before
#                                     the other stages.
#   scripts/measure_budget.sh train   `attention-playground train --minutes 5` (~6 min with its sample)
#   scripts/measure_budget.sh race    tokenizer_race.py: char and gpt2, 5 min each (~11 min);
#                                     writes README.md's tokenizer-race block
#   scripts/measure_budget.sh speed   tokens/s of --tokenizer gpt2 (the cpu preset, 500 steps) and of
#                                     gpt2-full (100 steps) at the cpu preset's shape (~7 min)
#   scripts/measure_budget.sh bench   `attention-playground bench --budget 5` (~15 min: the usual
#                                     3-4 min, then both 5-minute runs in turns)
#   scripts/measure_budget.sh all     train, race, speed, bench (~40 min; tune is separate)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-2}"
if [ -z "${ATTENTION_PLAYGROUND_DATA:-}" ] && [ -d ../shared/data ]; then
  export ATTENTION_PLAYGROUND_DATA="$(realpath ../shared/data)"
fi
if [ -z "${TIKTOKEN_CACHE_DIR:-}" ] && [ -d ../shared/data/tiktoken_cache ]; then
  export TIKTOKEN_CACHE_DIR="$(realpath ../shared/data/tiktoken_cache)"
fi
PY="${PYTHON:-.venv/bin/python}"
OUT=runs/issue18
mkdir -p "$OUT"

stage() {
  case "$1" in
    tune) "$PY" scripts/tune_budget.py --write | tee "$OUT/tune_budget.txt" ;;
    train) "$PY" -m attention_playground train --minutes 5 --out runs/budget-char --force --no-progress \
             | tee "$OUT/train_minutes_5.txt" ;;
    race) "$PY" scripts/tokenizer_race.py | tee "$OUT/tokenizer_race.txt" ;;
    speed)  # the cpu preset as issue 18 measured it (1,149 tokens/s with all 50,257 tokens), then gpt2-full
      {  # for 100 steps in the same session: tokens/s is in each run's "best val loss" line
        "$PY" -m attention_playground train --preset cpu --tokenizer gpt2 --out runs/cpu-gpt2 --force \
          --no-progress --sample-tokens 200
        "$PY" -m attention_playground train --preset cpu --tokenizer gpt2-full --max-iters 100 \
          --out runs/cpu-gpt2-full --force --no-progress --sample-tokens 0
      } | tee "$OUT/gpt2_speed.txt" ;;
    bench) "$PY" -m attention_playground bench --budget 5 | tee "$OUT/bench_budget_5.txt" ;;
    all) for s in train race speed bench; do stage "$s"; done ;;
    *) echo "usage: scripts/measure_budget.sh tune|train|race|speed|bench|all" >&2; exit 2 ;;
  esac
}
stage "${1:-all}"
