#!/usr/bin/env bash
# bench/knn.sh: k-nearest-neighbour distance benchmark, convnet against numpy on
# the same cores in the same run. Builds bench/knn_bench.c against
# $BUILD/libconvnet.a (running `make lib` first), then at 1 and 2 threads
# (OMP_NUM_THREADS and OPENBLAS_NUM_THREADS set identically for both sides):
#   l2: the full Fashion-MNIST squared-distance matrix, test (10000) x train
#       (60000), d = 784, float32: convnet (cn_sq_norms + cn_dist_l2sq) and numpy
#       (bench/knn_numpy.py, the same |q|^2 - 2 q.r + |r|^2 expansion);
#   l1: the same matrix with Manhattan distances, convnet only (numpy has no
#       practical blocked L1: broadcasting needs a 10000 x 60000 x 784 temporary).
# Each number is the median of 3 runs after a warm-up. Prints a table and
# appends it, with the date, CPU model and git revision, to bench/RESULTS.md.
# OpenBLAS kernels: OPENBLAS_CORETYPE if set, else the ones `convnet version`
# reports (the CLI's choice for CPUs OpenBLAS does not recognise), for both sides.
# Usage: bench/knn.sh [THREADS...]   (default: 1 2); env BUILD (default build),
# DATA (default /usr/share/datasets/fashion-mnist), REPEATS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
REPEATS=${REPEATS:-3}
THREADS=("$@")
[ ${#THREADS[@]} -gt 0 ] || THREADS=(1 2)
PY=/usr/bin/python3

make --no-print-directory BUILD="$BUILD" lib >&2
BLAS_FLAGS=$(pkg-config --cflags openblas 2>/dev/null || true)
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
mkdir -p "$BUILD/bench"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -march=native -fopenmp -Iinclude $BLAS_FLAGS \
    -D_POSIX_C_SOURCE=200809L -o "$BUILD/bench/knn_bench" bench/knn_bench.c \
    "$BUILD/libconvnet.a" $BLAS_LIBS -lz -lm -lpthread

# Both sides run the same OpenBLAS kernels. If OPENBLAS_CORETYPE is unset and
# OpenBLAS does not recognise this CPU, use the kernels convnet selects for it
# (cn_blas_coretype_hint), so numpy is not measured on the generic fallback.
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

rows=()
for t in "${THREADS[@]}"; do
    export OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t
    echo "== $t thread(s): convnet" >&2
    cn=$("$BUILD/bench/knn_bench" --threads "$t" --repeats "$REPEATS" --data "$DATA")
    echo "== $t thread(s): numpy" >&2
    np=$("$PY" bench/knn_numpy.py --threads "$t" --repeats "$REPEATS" --data "$DATA")
    cl2=$(awk '$1 == "RESULT" && $2 == "l2" { print $4 }' <<<"$cn")
    cl1=$(awk '$1 == "RESULT" && $2 == "l1" { print $4 }' <<<"$cn")
    nl2=$(awk '$1 == "RESULT" && $2 == "l2" { print $4 }' <<<"$np")
    ratio=$(awk -v a="$nl2" -v b="$cl2" 'BEGIN { printf "%.2f", a / b }')
    rows+=("| l2 squared distances 10000x60000, d=784 | $t | $cl2 | $nl2 | $ratio |")
    rows+=("| l1 distances 10000x60000, d=784 | $t | $cl1 | n/a (no practical blocked L1 in numpy) | n/a |")
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ncpu=$(nproc)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo uncommitted)
if [ "$rev" != uncommitted ] && [ -n "$(git status --porcelain -- src include bench 2>/dev/null)" ]; then
    rev="$rev plus uncommitted changes"
fi
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
# The OpenBLAS kernel both sides run (OpenBLAS picks it from CPUID at load time,
# or from OPENBLAS_CORETYPE; an unknown CPU falls back to a slow generic one).
core=$(OPENBLAS_VERBOSE=2 "$PY" -c 'import numpy' 2>&1 | sed -n 's/^Core: //p' | head -n 1)
table=$(
    echo "| workload | threads | convnet s | numpy s | ratio numpy/convnet |"
    echo "|---|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
)
echo "$table"
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu ($ncpu cores), revision $rev"
    echo
    envs="${user_coretype:+OPENBLAS_CORETYPE=$user_coretype }"
    [ "$BUILD" = build ] || envs="${envs}BUILD=$BUILD "
    echo "Command: \`${envs}bench/knn.sh ${THREADS[*]}\` (median of $REPEATS runs after a warm-up; float32;"
    echo "numpy $("$PY" -c 'import numpy; print(numpy.__version__)'), same OpenBLAS thread count on both sides;"
    if [ -n "$user_coretype" ]; then how="OPENBLAS_CORETYPE=$user_coretype given"; else how="OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}, chosen by the script from \`convnet version\`"; fi
    echo "OpenBLAS kernel: ${core:-unknown} ($how);"
    echo "load average at the end: $load)."
    echo
    echo "$table"
} >>bench/RESULTS.md
echo "appended to bench/RESULTS.md" >&2
