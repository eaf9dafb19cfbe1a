#!/usr/bin/env bash
# Every GPU check in one call, for a short GPU lease: builds pygan against the
# machine's CUDA torch, runs the whole test suite (every CUDA case included),
# the kernel benchmarks with --device cuda, compute-sanitizer on the ops' CUDA
# tests, and a DCGAN and a WGAN epoch (pygan eager and compiled against the
# plain loop). Steps run in order of value, each under the smaller of its own
# limit and what is left of BUDGET seconds, so a slow step costs the later
# ones, never the whole run.
#
#   OUT=/some/dir [STEPS="..."] bash bench/gpu_check.sh [BUDGET_SECONDS] [FASHION_MNIST_DIR] \
#       [SEQGAN_ORACLE_NPZ]
#
# STEPS picks steps by name (default: all, in this order): tests_cuda (tests
# named for CUDA: the ops' CUDA cases and CPU/CUDA parity), bench_calls (host
# and device time per call of cuDNN, cuBLAS and pygan's passes), bench_conv,
# bench_rollout, bench_rmsprop, memcheck, tests_rest (the rest of the suite;
# trainers run on CUDA there too), bench_epoch, bench_conv_bf16, racecheck.
# The build always runs. Leaves $OUT/summary.txt (each step's status and the
# result tables) and $OUT/gpu_check.tgz (every step's log and
# bench/results/*_cuda.*), rewritten after each step so a run cut short still
# returns what it finished. Test logs are verbose (one line per test), so a
# killed run still says which tests passed.
set -u
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/gpu_check_out}
BUDGET=${1:-540}
FMNIST=${2:-/usr/share/datasets/fashion-mnist}
ORACLE=${3:-../shared/data/seqgan_oracle_lstm.npz}
PY=${PYTHON:-python3}
LOGS=$(mktemp -d)
SUMMARY=$OUT/summary.txt
mkdir -p "$OUT"
: > "$SUMMARY"
export PYTHONUNBUFFERED=1

pack() {
  cp -f bench/results/*_cuda.* "$LOGS"/ 2>/dev/null
  tar -czf "$OUT/gpu_check.tgz" -C "$LOGS" .
}

# step NAME LIMIT CMD...: runs CMD with its output in NAME.log; says how it went.
STEPS=${STEPS:-all}
step() {
  local name=$1 limit=$2
  shift 2
  if [[ $STEPS != all && " $STEPS " != *" $name "* && $name != env && $name != build \
        && $name != registered ]]; then
    return 0
  fi
  local left=$((BUDGET - SECONDS))
  ((limit > left)) && limit=$left
  if ((limit < 15)); then
    echo "== $name: not run (budget spent)" | tee -a "$SUMMARY"
    return 1
  fi
  local t0=$SECONDS
  timeout -k 10 "$limit" "$@" > "$LOGS/$name.log" 2>&1
  local rc=$?
  echo "== $name: rc $rc after $((SECONDS - t0)) s (limit $limit s)" | tee -a "$SUMMARY"
  pack
  return $rc
}

# tail_of NAME N: the last N lines of a step's log, into the summary.
tail_of() { tail -n "$2" "$LOGS/$1.log" 2>/dev/null | tee -a "$SUMMARY"; }

step env 30 bash -c "nvidia-smi; nvcc --version | tail -2; $PY -c 'import torch; \
print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name())'"
tail_of env 1

step build 240 env TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 PYGAN_CUDA=1 \
  $PY -m pip install --no-build-isolation --no-deps --no-index -e .
if ! step registered 30 $PY -c "
import torch, pygan
for op in ('rmsprop_clip_', 'conv_transpose_bn_act', 'conv_transpose_bn_act_backward', 'rollout'):
    assert torch._C._dispatch_has_kernel_for_dispatch_key('pygan::' + op, 'CUDA'), op
print('CUDA kernels registered')"; then
  tail_of build 30
  tail_of registered 5
  exit 1
fi

# A hung test fails alone (pytest-timeout) instead of eating the budget.
TIMEOUT=()
$PY -c "import pytest_timeout" 2>/dev/null && TIMEOUT=(--timeout 120)
PYTEST=($PY -m pytest -v -p no:cacheprovider -p no:benchmark -rfE "${TIMEOUT[@]}")
# Only pygan's kernels are instrumented (their names hold the namespace),
# where this compute-sanitizer can filter kernels. On an H100, memcheck got
# through 483 of these files' 610 CUDA cases in 150 s, so the files whose
# kernels have not been through it yet come first (rmsprop_clip's 533 last).
FILTER=(--kernel-name kns=pygan)
compute-sanitizer --help 2>&1 | grep -q -- --kernel-name || FILTER=()
OP_TESTS="tests/test_conv_transpose_bn_act.py tests/test_conv_transpose_bn_act_cuda.py tests/test_rollout.py
  tests/test_rmsprop_clip.py"
SANITIZE=(compute-sanitizer "${FILTER[@]}" --error-exitcode 9)
# The profiler (CUPTI) test cannot run under compute-sanitizer.
SANITIZED="cuda and not runs_pygan_kernels"

# In order of value: the CUDA code's correctness, the kernels' targets, the
# memory checker, then the rest.
step tests_cuda 200 "${PYTEST[@]}" -n 16 -k "cuda or CUDA" tests
tail_of tests_cuda 15
step bench_calls 120 bash -c "$PY bench/bench_conv_calls.py --device cuda --rounds 9 && \
  $PY bench/bench_conv_calls.py --device cuda --rounds 9 --layout nhwc --workloads 64x128"
step bench_conv 150 $PY bench/bench_conv_transpose_bn_act.py --device cuda --reps 50
EPOCH=(--epoch --oracle "$ORACLE")
[[ -f $ORACLE ]] || EPOCH=()  # no oracle carried: no adversarial step
step bench_rollout 150 $PY bench/bench_rollout.py --device cuda "${EPOCH[@]}"
step bench_rmsprop 90 $PY bench/bench_rmsprop_clip.py --device cuda
step memcheck 150 "${SANITIZE[@]}" --tool memcheck "${PYTEST[@]}" -k "$SANITIZED" $OP_TESTS
tail_of memcheck 6
step tests_rest 200 "${PYTEST[@]}" -n 16 -k "not (cuda or CUDA)" --durations=10 tests
tail_of tests_rest 15
step bench_epoch 150 $PY bench/bench_train_epoch.py --device cuda --data "$FMNIST" \
  --reps 5 --steps 20
step bench_conv_bf16 90 $PY bench/bench_conv_transpose_bn_act.py --device cuda --amp bf16 \
  --reps 50 --workloads 32x64 64x128
step racecheck 120 "${SANITIZE[@]}" --tool racecheck "${PYTEST[@]}" -k "$SANITIZED" $OP_TESTS
tail_of racecheck 6

for name in bench_calls bench_rmsprop bench_conv bench_rollout bench_epoch bench_conv_bf16; do
  echo "---- $name" >> "$SUMMARY"
  grep -v "^\s*$" "$LOGS/$name.log" 2>/dev/null | tail -n 40 >> "$SUMMARY"
done
pack
echo "== done after $SECONDS s"
cat "$SUMMARY"
