#!/usr/bin/env bash
# bench/loader.sh: is the loader ever the bottleneck? Measures, on the same cores
# in the same run:
#   - the loader's throughput (images/s) on Fashion-MNIST's 60000 training images
#     with the full augmentation pipeline (flip, pad + crop, colour jitter, random
#     erasing; bench/loader_bench.c), batch 64, at 2 worker threads (and, for
#     reference, synchronously on the caller's thread);
#   - the training throughput of the issue's small CNN (conv5x5 32 - pool - conv5x5
#     64 - pool - FC 1024 - FC 10, batch 64, SGD momentum 0.9) in PyTorch on 2
#     threads (bench/small_cnn_torch.py): convnet does not train CNNs yet, so
#     PyTorch's rate stands in for the trainer the loader feeds;
# and prints their ratio (target: loader >= 20x the trainer). Each loader number
# is the median of REPEATS runs (one warm-up epoch, then 2 timed epochs each).
# Appends the table, with the date, CPU, git revision and command, to
# bench/RESULTS.md. OpenBLAS kernels for PyTorch's BLAS calls: OPENBLAS_CORETYPE
# if set, else the ones `convnet version` reports (as bench/knn.sh).
# Usage: bench/loader.sh   env: BUILD (default build), DATA (default
# /usr/share/datasets/fashion-mnist), REPEATS (default 3), STEPS (torch training
# steps timed, default 100), SPEC (augmentation spec, default loader_bench's).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
REPEATS=${REPEATS:-3}
STEPS=${STEPS:-100}
SPEC=${SPEC:-}
PY=/usr/bin/python3
TARGET=20

make --no-print-directory BUILD="$BUILD" lib >&2
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
mkdir -p "$BUILD/bench"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -march=native -fopenmp -Iinclude \
    -D_POSIX_C_SOURCE=200809L -o "$BUILD/bench/loader_bench" bench/loader_bench.c \
    "$BUILD/libconvnet.a" $BLAS_LIBS -ljansson -lz -lm -lpthread

user_coretype=${OPENBLAS_CORETYPE:-}
if [ -z "${OPENBLAS_CORETYPE:-}" ]; then
    make --no-print-directory BUILD="$BUILD" cli >&2
    cli=bin/convnet
    [ "$BUILD" = build ] || cli="$BUILD/bin/convnet"
    hint=$("$cli" version | sed -n 's/^blas kernels: //p')
    if [ -n "$hint" ] && [ "$hint" != Prescott ] && [ "$hint" != portable ]; then
        export OPENBLAS_CORETYPE=$hint
    fi
fi

spec_args=()
[ -z "$SPEC" ] || spec_args=(--spec "$SPEC")

# median_loader WORKERS: sets med to the median images/s of REPEATS runs and
# spec_used to the augmentation spec loader_bench ran.
median_loader() {
    local w=$1 vals=() out
    for ((r = 0; r < REPEATS; r++)); do
        out=$(OMP_NUM_THREADS=1 "$BUILD/bench/loader_bench" --workers "$w" --data "$DATA" \
            "${spec_args[@]}")
        vals+=("$(awk '$1 == "RESULT" { print $4 }' <<<"$out")")
        spec_used=$(sed -n 's/^spec //p' <<<"$out")
    done
    med=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
}

echo "== loader, 2 workers" >&2
median_loader 2
l2=$med
echo "== loader, synchronous" >&2
median_loader 0
l0=$med
echo "== PyTorch small CNN training, 2 threads" >&2
tout=$(OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 "$PY" bench/small_cnn_torch.py --threads 2 \
    --steps "$STEPS")
torch_rate=$(awk '$1 == "RESULT" { print $4 }' <<<"$tout")
torch_ver=$(awk '$1 == "torch" { print $2 }' <<<"$tout")
r2=$(awk -v a="$l2" -v b="$torch_rate" 'BEGIN { printf "%.0f", a / b }')
r0=$(awk -v a="$l0" -v b="$torch_rate" 'BEGIN { printf "%.0f", a / b }')
verdict=$(awk -v r="$r2" -v t="$TARGET" 'BEGIN { print (r >= t) ? "met" : "NOT met" }')

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ncpu=$(nproc)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo uncommitted)
if [ "$rev" != uncommitted ] && [ -n "$(git status --porcelain -- src include bench 2>/dev/null)" ]; then
    rev="$rev plus uncommitted changes"
fi
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
table=$(
    echo "| workload | threads | images/s | ratio to the CNN's training |"
    echo "|---|---|---|---|"
    echo "| loader + augmentation, Fashion-MNIST 60000 x 1x28x28, batch 64 | 2 workers | $l2 | ${r2}x |"
    echo "| loader + augmentation, synchronous (on the caller's thread) | 1 | $l0 | ${r0}x |"
    echo "| PyTorch $torch_ver small CNN training step, batch 64 | 2 | $torch_rate | 1x |"
)
echo "$table"
echo "target: loader (2 workers) >= ${TARGET}x the CNN's training throughput: $verdict (${r2}x)"
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu ($ncpu cores), revision $rev"
    echo
    envs="${user_coretype:+OPENBLAS_CORETYPE=$user_coretype }"
    [ "$BUILD" = build ] || envs="${envs}BUILD=$BUILD "
    [ "$REPEATS" = 3 ] || envs="${envs}REPEATS=$REPEATS "
    [ "$STEPS" = 100 ] || envs="${envs}STEPS=$STEPS "
    [ -z "$SPEC" ] || envs="${envs}SPEC='$SPEC' "
    echo "Command: \`${envs}bench/loader.sh\` (loader: median of $REPEATS runs of 2 epochs after a"
    echo "warm-up epoch, augmentation \`$spec_used\`, float32; PyTorch: $STEPS timed steps,"
    echo "synthetic data, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}; load average at the end: $load)."
    echo "Target loader >= ${TARGET}x the CNN's training throughput: $verdict."
    echo
    echo "$table"
} >>bench/RESULTS.md
echo "appended to bench/RESULTS.md" >&2
