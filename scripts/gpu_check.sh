#!/usr/bin/env bash
# The GPU check: what this project's GPU path does on a real GPU, measured, in one report.
#
#   scripts/gpu_check.sh [REPORT]              on a machine with a CUDA GPU: under 8 minutes
#   scripts/gpu_check.sh --cpu-smoke [REPORT]  on any machine, in seconds: the cheap parts only
#
# REPORT defaults to $OUT/gpu_check_report.txt (or ./gpu_check_report.txt without $OUT). Parts, in order:
# nvidia-smi; torch/CUDA versions; float32, TF32 and bf16 matmul rates; the tests marked `cuda`, with
# ATTENTION_PLAYGROUND_REQUIRE_CUDA=1 (they fail instead of skipping); torchrun --nproc_per_node=1
# over NCCL; KV-cache sampling tokens/s of the lecture-sized model; the bench of the lecture shape
# (float32, --dtype auto, --dtype auto --compile: tokens/s and MFU); the `lecture` preset trained end
# to end (5,000 steps, compiled, --dtype $LECTURE_DTYPE: auto unless set); `lecture-fast` trained
# to val <= 1.47. Trainings print each evaluation as it happens: a part stopped early keeps them. Without a GPU (or with --cpu-smoke) every GPU part is SKIPPED and the report says
# so; gpu_bench.py runs in its --smoke sizes and torchrun over gloo, so CI sees the script run.
# Every part has a time cap, and all of them share a budget of $GPU_CHECK_BUDGET_S (465 s): a part
# that would start past it is skipped, one that runs past its cap is stopped. The exit code is 1
# where a part failed or timed out, else 0.
set -uo pipefail
cd "$(dirname "$0")/.."

SMOKE=0
REPORT=""
for arg in "$@"; do
  case "$arg" in
    --cpu-smoke) SMOKE=1 ;;
    -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    -*) echo "gpu_check.sh: error: unknown option $arg (see --help)" >&2; exit 2 ;;
    *) REPORT="$arg" ;;
  esac
done
REPORT="${REPORT:-${OUT:-.}/gpu_check_report.txt}"
PY="${PYTHON:-$(command -v python || command -v python3)}"
BUDGET="${GPU_CHECK_BUDGET_S:-465}"
LECTURE_DTYPE="${LECTURE_DTYPE:-auto}"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
for data in shared/data ../shared/data; do # Tiny Shakespeare beside the checkout: no download needed
  if [[ -z "${ATTENTION_PLAYGROUND_DATA:-}" && -f "$data/tinyshakespeare.txt" ]]; then
    export ATTENTION_PLAYGROUND_DATA="$PWD/$data"
  fi
done
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$(dirname "$REPORT")"
: >"$REPORT"
SUMMARY=()
FAILED=0

capped() { # capped SECONDS COMMAND...: GNU timeout where there is one (macOS has none: no cap there)
  local limit="$1"
  shift
  if command -v timeout >/dev/null 2>&1; then
    timeout --kill-after=10 "$limit" "$@"
  else
    "$@"
  fi
}

say() { printf '%s\n' "$*" | tee -a "$REPORT"; }

skip() { # skip NAME WHY
  SUMMARY+=("SKIPPED   $1: $2")
  say ""
  say "== $1: SKIPPED ($2)"
}

part() { # part NAME CAP_SECONDS COMMAND...: run it under the smaller of its cap and the budget left
  local name="$1" cap="$2" left limit began rc status
  shift 2
  left=$((BUDGET - SECONDS))
  limit=$((cap < left ? cap : left))
  if ((limit < 5)); then
    skip "$name" "out of time: the ${BUDGET} s budget is spent"
    return
  fi
  say ""
  say "== $name (at most ${limit} s): $*"
  began=$SECONDS
  capped "$limit" "$@" 2>&1 | tee -a "$REPORT"
  rc=${PIPESTATUS[0]}
  if ((rc == 0)); then
    status="ok"
  elif ((rc == 124 || rc == 137)); then
    status="TIMED OUT" FAILED=1
  else
    status="FAILED (exit $rc)" FAILED=1
  fi
  SUMMARY+=("$(printf '%-9s' "$status") $name ($((SECONDS - began)) s)")
  say "-- $name: $status after $((SECONDS - began)) s"
}

GPU=0
if ((!SMOKE)) && command -v nvidia-smi >/dev/null 2>&1 &&
  "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
  GPU=1
fi
say "gpu_check.sh: $(date -u '+%Y-%m-%d %H:%M UTC') on $(hostname), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
if ((GPU)); then
  say "mode: CUDA GPU found; budget ${BUDGET} s"
else
  why=$( ((SMOKE)) && echo "--cpu-smoke" || echo "no CUDA GPU visible to this PyTorch")
  say "mode: CPU smoke ($why): every GPU part is skipped; gpu_bench.py runs in --smoke sizes"
fi

if ((GPU)); then
  BENCH=("$PY" scripts/gpu_bench.py --device cuda)
  part "nvidia-smi" 30 nvidia-smi
  part "versions and device" 60 "${BENCH[@]}" info
  part "matmul rates: float32, TF32, bf16" 90 "${BENCH[@]}" probe
  part "CUDA tests, skip lifted" 150 env ATTENTION_PLAYGROUND_REQUIRE_CUDA=1 \
    "$PY" -m pytest tests -m cuda -q -p no:cacheprovider
  part "torchrun --nproc_per_node=1 over NCCL, --dtype auto --compile" 120 "$PY" -m torch.distributed.run \
    --standalone --nproc_per_node=1 -m attention_playground train --preset tiny --max-iters 200 \
    --device cuda --dtype auto --compile --out "$WORK/nccl" --no-progress --sample-tokens 100
  part "KV-cache sampling, lecture-sized model" 90 "${BENCH[@]}" kv
  part "bench: lecture shape, float32 / auto / auto + compile" 150 "${BENCH[@]}" speed
  part "lecture preset, 5000 steps (--dtype $LECTURE_DTYPE, compiled)" 300 "${BENCH[@]}" train \
    --preset lecture --dtype "$LECTURE_DTYPE"
  part "lecture-fast preset to val <= 1.47 (compiled)" 300 "${BENCH[@]}" train --preset lecture-fast \
    --stop-at 1.47
else
  export OMP_NUM_THREADS=1 # each part is seconds of work: no thread can wait on another of a busy CPU
  skip "nvidia-smi" "no CUDA GPU"
  part "versions and device; gpu_bench.py --smoke on the CPU (figures mean nothing)" 120 \
    "$PY" scripts/gpu_bench.py --device cpu --smoke info probe speed kv train --stop-at 4.0
  skip "matmul rates: TF32 and bf16 on a GPU" "no CUDA GPU (the smoke probed small CPU matmuls)"
  skip "CUDA tests, skip lifted" "no CUDA GPU: run ATTENTION_PLAYGROUND_REQUIRE_CUDA=1 pytest tests -m cuda on one"
  skip "torchrun --nproc_per_node=1 over NCCL, --dtype auto --compile" "no CUDA GPU: a launch over gloo follows"
  part "torchrun --nproc_per_node=1 over gloo (CPU stand-in)" 120 "$PY" -m torch.distributed.run \
    --standalone --nproc_per_node=1 -m attention_playground train --preset tiny --max-iters 5 \
    --device cpu --out "$WORK/gloo" --no-progress --sample-tokens 20
  skip "KV-cache sampling, lecture-sized model" "no CUDA GPU (the smoke timed the tiny model)"
  skip "bench: lecture shape, float32 / auto / auto + compile" "no CUDA GPU (the smoke timed 3 tiny float32 steps)"
  skip "lecture preset, 5000 steps" "no CUDA GPU: hours on a CPU"
  skip "lecture-fast preset to val <= 1.47" "no CUDA GPU (the smoke trained the tiny preset, stopping at val <= 4.0)"
fi

say ""
say "== summary ($SECONDS s in all; report: $REPORT)"
for line in "${SUMMARY[@]}"; do
  say "$line"
done
exit $FAILED
