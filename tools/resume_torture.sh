#!/usr/bin/env bash
# tools/resume_torture.sh: RELIABILITY R8 at scale. Runs `convnet train` once
# uninterrupted, then TRIALS times: start the same run, kill -9 it after a random
# delay (anywhere in data loading, training or the checkpoint write protocol),
# resume with `convnet train --resume` (killing the resume too, at random, with
# probability 1/3, then resuming again), and compare the final model file with
# the uninterrupted run's, byte for byte. Prints one line per trial and a
# summary; exits 1 if any trial differs.
#
# Usage: tools/resume_torture.sh [TRIALS] [CONVNET]   (defaults: 100, bin/convnet)
# Data: the first 1000 Fashion-MNIST training images (/usr/share/datasets/...).
set -u
TRIALS=${1:-100}
BIN=${2:-bin/convnet}
DATA=${DATA:-/usr/share/datasets/fashion-mnist}
WORK=$(mktemp -d /tmp/resume-torture.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
ARGS=(mlp --data "$DATA" --hidden 32 --dropout 0.2 --epochs 3 --batch 20
      --train-limit 1000 --val 200 --test-limit 100 --checkpoint-every 1
      --optimizer adam --lr 1e-3 --schedule cosine --unit step --ema 0.99
      --threads 1 --quiet)

start=$(date +%s%N)
"$BIN" train "${ARGS[@]}" --out "$WORK/ref" >/dev/null || { echo "reference run failed"; exit 1; }
secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
ref=$(sha256sum "$WORK/ref/model.safetensors" | cut -d' ' -f1)
echo "reference: $secs s, model sha256 $ref"

# kill -9 the command after a random delay in [0, secs]; true when it was killed
run_and_kill() {
    "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "$(awk -v s="$secs" -v r="$RANDOM" 'BEGIN { printf "%.3f", s * r / 32767 }')"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
}

same=0 differ=0
for t in $(seq 1 "$TRIALS"); do
    out="$WORK/t$t"
    run_and_kill "$BIN" train "${ARGS[@]}" --out "$out"
    kills=1
    while :; do
        if [ ! -f "$out/checkpoint.safetensors" ]; then
            rm -rf "$out"   # killed before the first checkpoint: start again
            cmd=("$BIN" train "${ARGS[@]}" --out "$out")
        else
            cmd=("$BIN" train --resume "$out" --quiet)
        fi
        if [ $((RANDOM % 3)) -eq 0 ] && [ "$kills" -lt 4 ]; then
            run_and_kill "${cmd[@]}"
            kills=$((kills + 1))
            continue
        fi
        "${cmd[@]}" >/dev/null 2>"$WORK/err" && break
        echo "trial $t: resume failed: $(cat "$WORK/err")"
        break
    done
    got=$(sha256sum "$out/model.safetensors" 2>/dev/null | cut -d' ' -f1)
    if [ "$got" = "$ref" ]; then
        same=$((same + 1)); echo "trial $t: $kills kill(s): identical"
    else
        differ=$((differ + 1)); echo "trial $t: $kills kill(s): DIFFERENT ($got)"
    fi
    rm -rf "$out"
done
echo "resume torture: $same of $TRIALS identical, $differ different"
[ "$differ" -eq 0 ]
