#!/bin/sh
# scripts/demo.sh: the main job of convnet, end to end on Fashion-MNIST: train
# the default ConvNet (models/fmnist-cnn.cnm: two conv-BN-ReLU-pool stages and a
# hidden layer with dropout) with Adam, a cosine schedule and horizontal flips,
# write its model files and its report (report.html + figure PNGs), then run
# `convnet predict` on a few test images. Progress (a bar on a terminal) goes to
# stderr; stdout gets the training summary, the predictions, where the files
# are, and as its last line one JSON object: test_accuracy, seconds, model,
# report, epochs, threads.
#
# Usage: scripts/demo.sh [BIN]     (BIN defaults to bin/convnet; `make demo` runs it)
# Environment: DEMO_OUT (default build/demo), DEMO_DATA (default the Debian
# Fashion-MNIST folder), DEMO_EPOCHS (default 20), DEMO_THREADS (default 0: all
# cores), DEMO_CLASSIC=1 first runs the classic classifiers (kNN with
# cross-validation, softmax and SVM with random search: about 2 more minutes).
# Takes about 7-8 minutes on 2 cores (README, "The two commands").
set -eu

BIN=${1:-bin/convnet}
OUT=${DEMO_OUT:-build/demo}
DATA=${DEMO_DATA:-/usr/share/datasets/fashion-mnist}
EPOCHS=${DEMO_EPOCHS:-20}
THREADS=${DEMO_THREADS:-0}
MODEL=models/fmnist-cnn.cnm

if [ ! -x "$BIN" ]; then
    echo "demo: '$BIN' is not an executable; build it with 'make'" >&2
    exit 2
fi
if [ ! -f "$MODEL" ]; then
    echo "demo: $MODEL not found; run the demo from the source tree" >&2
    exit 2
fi
mkdir -p "$OUT"
start=$(date +%s)

# The value of "key" in a JSON file printed one key per line by `--json`.
json_value() {
    sed -n "s/^ *\"$2\": *\"\{0,1\}\([^\",]*\)\"\{0,1\},\{0,1\}$/\1/p" "$1" | head -n 1
}

if [ "${DEMO_CLASSIC:-0}" = 1 ]; then
    echo "demo: act 1: the classic classifiers (kNN, softmax, SVM)" >&2
    "$BIN" knn --cv --data "$DATA" --json --threads "$THREADS" > "$OUT/knn.json"
    "$BIN" linear --loss softmax --search --data "$DATA" --json --threads "$THREADS" \
        > "$OUT/softmax.json"
    "$BIN" linear --loss svm --search --data "$DATA" --json --threads "$THREADS" \
        > "$OUT/svm.json"
    echo "classic classifiers (test accuracy): kNN $(json_value "$OUT/knn.json" \
        test_accuracy), softmax $(json_value "$OUT/softmax.json" test_accuracy), SVM \
$(json_value "$OUT/svm.json" test_accuracy)"
fi

RUN=$OUT/cnn
rm -rf "$RUN"
echo "demo: training $MODEL on $DATA ($EPOCHS epochs)" >&2
"$BIN" train "$MODEL" --data "$DATA" --out "$RUN" --optimizer adam --lr 2e-3 \
    --schedule cosine --epochs "$EPOCHS" --batch 128 --augment hflip \
    --threads "$THREADS" --json > "$OUT/train.json"
acc=$(json_value "$OUT/train.json" test_accuracy)
threads=$(json_value "$OUT/train.json" threads)
report=$RUN/report.html
model=$RUN/best.safetensors
echo "test accuracy (best weights on 10,000 test images): $acc"
echo "model file: $model (convnet eval / convnet predict read it alone)"
echo "report:     $report (open it in a browser; figures in $RUN/report/)"

echo "demo: predicting the first 8 test images" >&2
echo
"$BIN" predict "$model" --data "$DATA" --index 0,1,2,3,4,5,6,7 --top 3 --quiet
echo

secs=$(($(date +%s) - start))
printf '{"test_accuracy": %s, "seconds": %d, "model": "%s", "report": "%s", "epochs": %d, "threads": %s}\n' \
    "$acc" "$secs" "$model" "$report" "$EPOCHS" "${threads:-0}"
