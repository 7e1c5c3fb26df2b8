#!/usr/bin/env bash
# bench/run.sh: the "fast CPU kernels" benchmark, convnet against PyTorch 1.13
# (Debian's python3-torch) on the same cores in the same run (docs/performance.md).
# Workloads (bench/train_bench.c for convnet, bench/torch_bench.py for PyTorch,
# float32, SGD momentum 0.9, cross-entropy, synthetic data):
#   small CNN train (batch 64), ResNet-20 train (128), MLP 784-512-10 train (128),
#   small CNN and ResNet-20 inference at batch 1 (latency) and 128 (throughput),
#   ResNet-20's convolutions alone (their forward time at batch 128),
#   the kNN distance computation (Fashion-MNIST), and sgemm (the peak reference).
# Each (workload, thread count) row runs one convnet process and one PyTorch
# process per threading setting, alternating which side goes first from row to
# row; every process warms up and reports the median of REPEATS repeats and its
# max RSS. PyTorch settings: at 1 thread torch.set_num_threads(1) with
# OPENBLAS_NUM_THREADS=1; at 2 threads torch.set_num_threads 1 and 2, each with
# OPENBLAS_NUM_THREADS=1 and unset; the fastest is compared. convnet runs with
# cn_set_num_threads(T) (OpenMP T threads, OMP_NUM_THREADS = T in its environment;
# OpenBLAS stays single-threaded: cn_gemm splits work itself). Both sides run the same OpenBLAS
# kernels: OPENBLAS_CORETYPE if set, else the ones `convnet version` reports.
# Prints the table (bench/report.py), appends it with the date, CPU model, git
# revision, command and load average to bench/RESULTS.md, and writes it as one
# JSON object to BENCH_JSON when set. Exit status 1 when any process failed.
# Usage: bench/run.sh   env: BUILD (default build); BENCH_QUICK=1: a smoke test
#   (1 warm-up iteration, 3 repeats of ~0.05 s, 200 kNN queries, sgemm n = 1024,
#   one PyTorch setting per row: about 2-3 minutes on an idle machine);
#   BENCH_JSON=FILE; BENCH_THREADS (default "1 2"); BENCH_WORKLOADS (default all,
#   space-separated names); BENCH_TORCH_SETTINGS (all or one; default all, quick:
#   one); REPEATS (default 5); TARGET_S (seconds per repeat, default 1); WARMUP_S
#   (default 0.5); KNN_QUERIES (default 2000); GEMM_N (default 2048); DATA (default
#   /usr/share/datasets/fashion-mnist); BENCH_RESULTS (default bench/RESULTS.md;
#   /dev/null appends nothing). Each JSON record also gets the 1-minute load
#   average before its process started (load1): the machine may be shared.
set -euo pipefail
JSON_OUT=${BENCH_JSON:-}
[ -z "$JSON_OUT" ] || case $JSON_OUT in /*) ;; *) JSON_OUT="$PWD/$JSON_OUT" ;; esac
cd "$(dirname "$0")/.."

# the settings the caller gave, for the command line recorded in RESULTS.md
given=""
for v in BENCH_THREADS BENCH_WORKLOADS BENCH_TORCH_SETTINGS REPEATS TARGET_S WARMUP_S \
    KNN_QUERIES GEMM_N DATA; do
    [ -z "${!v:-}" ] || given="$given$v='${!v}' "
done
BUILD=${BUILD:-build}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
QUICK=${BENCH_QUICK:-0}
RESULTS=${BENCH_RESULTS:-bench/RESULTS.md}
read -r -a THREADS <<<"${BENCH_THREADS:-1 2}"
ALL="sgemm cnn_train resnet20_train mlp_train cnn_infer_b1 cnn_infer_b128 resnet20_infer_b1"
ALL="$ALL resnet20_infer_b128 resnet20_conv_fwd knn"
read -r -a WORKLOADS <<<"${BENCH_WORKLOADS:-$ALL}"
if [ "$QUICK" = 1 ]; then
    REPEATS=${REPEATS:-3} TARGET_S=${TARGET_S:-0.05} WARMUP_S=${WARMUP_S:-0.05} WARMUP_ITERS=1
    KNN_QUERIES=${KNN_QUERIES:-200} GEMM_N=${GEMM_N:-1024}
    TORCH_SETTINGS=${BENCH_TORCH_SETTINGS:-one}
else
    TORCH_SETTINGS=${BENCH_TORCH_SETTINGS:-all}
    REPEATS=${REPEATS:-5} TARGET_S=${TARGET_S:-1} WARMUP_S=${WARMUP_S:-0.5} WARMUP_ITERS=2
    KNN_QUERIES=${KNN_QUERIES:-2000} GEMM_N=${GEMM_N:-2048}
fi
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)

# PyTorch from Debian: installed by scripts/setup.sh when missing.
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "bench: PyTorch is missing; installing python3-torch (scripts/setup.sh --bench)" >&2
    scripts/setup.sh --bench >&2 || true
    if ! "$PY" -c 'import torch' 2>/dev/null; then
        echo "bench: cannot import torch with $PY; install Debian's python3-torch" >&2
        exit 1
    fi
fi

make --no-print-directory BUILD="$BUILD" lib cli >&2
BLAS_FLAGS=$(pkg-config --cflags openblas 2>/dev/null || true)
BLAS_LIBS=$(pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
mkdir -p "$BUILD/bench"
${CC:-cc} -std=c11 -Wall -Wextra -Werror -O2 -march=native -fopenmp -Iinclude $BLAS_FLAGS \
    -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -o "$BUILD/bench/train_bench" \
    bench/train_bench.c "$BUILD/libconvnet.a" $BLAS_LIBS -ljansson -lz -lm -lpthread

# Both sides run the same OpenBLAS kernels (as bench/knn.sh): OPENBLAS_CORETYPE if
# set, else the kernels convnet selects for a CPU OpenBLAS does not recognise.
user_coretype=${OPENBLAS_CORETYPE:-}
if [ -z "$user_coretype" ]; then
    cli=bin/convnet
    [ "$BUILD" = build ] || cli="$BUILD/bin/convnet"
    hint=$("$cli" version | sed -n 's/^blas kernels: //p')
    if [ -n "$hint" ] && [ "$hint" != Prescott ] && [ "$hint" != portable ]; then
        export OPENBLAS_CORETYPE=$hint
    fi
fi

raw=$(mktemp "${TMPDIR:-/tmp}/convnet-bench.XXXXXX")
log="$BUILD/bench/run.log"
trap 'rm -f "$raw"' EXIT
: >"$log"
load_start=$(cut -d ' ' -f 1-3 /proc/loadavg)
start_s=$SECONDS
common=(--repeats "$REPEATS" --target-s "$TARGET_S" --warmup-s "$WARMUP_S"
        --warmup-iters "$WARMUP_ITERS"
        --knn-queries "$KNN_QUERIES" --gemm-n "$GEMM_N" --data "$DATA")
failures=0

# record ROW SIDE WORKLOAD SETTING CMD...: run one process, append its JSON line
# (tagged with the row's thread count) or an error record to $raw.
record() {
    local row=$1 side=$2 wl=$3 setting=$4 out rc=0 load1
    shift 4
    load1=$(cut -d ' ' -f 1 /proc/loadavg)
    echo "bench: $wl, $row thread(s): $side ($setting), load $load1" >&2
    out=$("$@" 2>>"$log") || rc=$?
    if [ $rc -eq 0 ] && [ "${out:0:1}" = "{" ]; then
        echo "{\"threads_row\": $row, \"load1\": $load1, ${out:1}" >>"$raw"
    else
        echo "bench: $wl, $row thread(s), $side failed (exit $rc; see $log)" >&2
        failures=$((failures + 1))
        echo "{\"threads_row\": $row, \"side\": \"$side\", \"workload\": \"$wl\"," \
             "\"threads\": $row, \"setting\": \"$setting\", \"error\": \"exit $rc\"}" >>"$raw"
    fi
}

run_convnet() { # WORKLOAD THREADS
    record "$2" convnet "$1" "cn_set_num_threads($2)" \
        env OMP_NUM_THREADS="$2" \
        "$BUILD/bench/train_bench" --workload "$1" --threads "$2" "${common[@]}"
}

# run_torch WORKLOAD ROW_THREADS: every setting that uses at most ROW_THREADS cores
# (TORCH_SETTINGS=one: only torch.set_num_threads(ROW_THREADS), OPENBLAS_NUM_THREADS=1).
run_torch() {
    local wl=$1 row=$2 tt ob
    for ((tt = 1; tt <= row; tt++)); do
        [ "$TORCH_SETTINGS" = all ] || [ "$tt" -eq "$row" ] || continue
        for ob in 1 unset; do
            [ "$ob" = 1 ] || { [ "$row" -gt 1 ] && [ "$TORCH_SETTINGS" = all ]; } || continue
            local envs=(env -u OPENBLAS_NUM_THREADS OMP_NUM_THREADS="$tt")
            [ "$ob" = unset ] || envs+=(OPENBLAS_NUM_THREADS="$ob")
            record "$row" pytorch "$wl" \
                "torch.set_num_threads($tt), OPENBLAS_NUM_THREADS=$ob" \
                "${envs[@]}" "$PY" bench/torch_bench.py --workload "$wl" --threads "$tt" \
                "${common[@]}"
        done
    done
}

k=0
for wl in "${WORKLOADS[@]}"; do
    for t in "${THREADS[@]}"; do
        if [ $((k % 2)) -eq 0 ]; then
            run_convnet "$wl" "$t"
            run_torch "$wl" "$t"
        else
            run_torch "$wl" "$t"
            run_convnet "$wl" "$t"
        fi
        k=$((k + 1))
    done
done

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ncpu=$(nproc)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo uncommitted)
if [ "$rev" != uncommitted ] && [ -n "$(git status --porcelain -- src include bench models \
        2>/dev/null)" ]; then
    rev="$rev plus uncommitted changes"
fi
load_end=$(cut -d ' ' -f 1-3 /proc/loadavg)
torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
envs="${user_coretype:+OPENBLAS_CORETYPE=$user_coretype }"
[ "$BUILD" = build ] || envs="${envs}BUILD=$BUILD "
[ "$QUICK" != 1 ] || envs="${envs}BENCH_QUICK=1 "
command="${envs}${given}bench/run.sh"
date=$(date -u '+%Y-%m-%d %H:%M UTC')
minutes=$(awk -v s=$((SECONDS - start_s)) 'BEGIN { printf "%.1f", s / 60 }')
meta=(--meta "date=$date" --meta "cpu=$cpu" --meta "cores=$ncpu" --meta "revision=$rev"
      --meta "command=$command" --meta "load_start=$load_start" --meta "load_end=$load_end"
      --meta "openblas_coretype=${OPENBLAS_CORETYPE:-unset}" --meta "torch=$torch_version"
      --meta "quick=$QUICK" --meta "repeats=$REPEATS" --meta "target_s=$TARGET_S"
      --meta "knn_queries=$KNN_QUERIES" --meta "gemm_n=$GEMM_N")
rc=0
tables=$("$PY" bench/report.py "$raw" --settings ${JSON_OUT:+--json "$JSON_OUT"} \
    "${meta[@]}") || rc=$?
if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then
    echo "bench: bench/report.py failed (exit $rc); raw results:" >&2
    cat "$raw" >&2
    exit 1
fi
main_table=$(sed '/^$/,$d' <<<"$tables")
settings=$(sed '1,/^$/d' <<<"$tables")
echo "$main_table"
{
    echo
    echo "## $date, $cpu ($ncpu cores), revision $rev"
    echo
    echo "Command: \`$command\` (bench/run.sh: median of $REPEATS repeats of about ${TARGET_S} s"
    echo "after a warm-up, per process; float32; convnet cn_set_num_threads(T) = OpenMP and"
    echo "OpenBLAS T threads; PyTorch $torch_version at its fastest setting per row, tT ="
    echo "torch.set_num_threads(T), obN = OPENBLAS_NUM_THREADS=N, ob- = unset; OpenBLAS kernel"
    echo "${OPENBLAS_CORETYPE:-as detected} on both sides; kNN: $KNN_QUERIES test queries x 60000;"
    echo "sgemm n = $GEMM_N; $minutes minutes; load average at the start: $load_start, at the"
    echo "end: $load_end)."
    echo
    echo "$main_table"
    echo
    echo "Every PyTorch setting tried:"
    echo
    echo "$settings"
} >>"$RESULTS"
[ "$RESULTS" = /dev/null ] || echo "appended to $RESULTS" >&2
[ -z "$JSON_OUT" ] || echo "wrote $JSON_OUT" >&2
if [ "$failures" -ne 0 ] || [ "$rc" -ne 0 ]; then
    echo "bench: $failures process(es) failed; see $log" >&2
    exit 1
fi
