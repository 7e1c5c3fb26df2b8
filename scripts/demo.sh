#!/bin/sh
# scripts/demo.sh: the main job of convnet, end to end on Fashion-MNIST: a kNN
# classifier whose metric, vote and k are chosen by 5-fold cross-validation, and
# linear softmax and SVM classifiers whose learning rate and regularisation are
# chosen by random search; each reports validation and test accuracy. Prints a
# final table on stdout; progress goes to stderr. The JSON results and the class
# template images are kept in $DEMO_OUT (default build/demo).
#
# Usage: scripts/demo.sh [BIN]     (BIN defaults to bin/convnet; `make demo` runs it)
# Takes about 3-4 minutes on 2 cores.
set -eu

BIN=${1:-bin/convnet}
OUT=${DEMO_OUT:-build/demo}
PY=/usr/bin/python3

if [ ! -x "$BIN" ]; then
    echo "demo: '$BIN' is not an executable; build it with 'make'" >&2
    exit 2
fi
if [ ! -x "$PY" ]; then
    echo "demo: $PY is needed to read the JSON results" >&2
    exit 2
fi
mkdir -p "$OUT"

# The searches run with the CLI's default ranges, trials and epochs: the same
# searches that chose the defaults of `convnet linear` (see docs/linear.md).

echo "demo: kNN with 5-fold cross-validation on 20000 training images" >&2
"$BIN" knn --cv --json > "$OUT/knn.json"

echo "demo: softmax classifier with random search" >&2
"$BIN" linear --loss softmax --search \
    --templates "$OUT/templates_softmax.png" --json > "$OUT/softmax.json"

echo "demo: linear SVM with random search" >&2
"$BIN" linear --loss svm --search \
    --templates "$OUT/templates_svm.png" --json > "$OUT/svm.json"

"$PY" - "$OUT/knn.json" "$OUT/softmax.json" "$OUT/svm.json" <<'PYEOF'
import json
import sys

rows = []
for path in sys.argv[1:]:
    with open(path) as f:
        r = json.load(f)
    if r["command"] == "knn":
        model = "kNN"
        hyper = "k=%d %s %s-vote" % (r["k"], r["metric"], r["vote"])
    else:
        model = "linear " + r["loss"]
        hyper = "lr=%.3g reg=%.3g %d epochs" % (r["lr"], r["reg"], r["epochs"])
    rows.append((model, hyper, "%.4f" % r["val_accuracy"], "%.4f" % r["test_accuracy"],
                 "%.1f" % r["seconds"]))

head = ("model", "hyperparameters", "val acc", "test acc", "seconds")
w = [max(len(str(row[i])) for row in rows + [head]) for i in range(len(head))]
print()
print("Fashion-MNIST (hyperparameters chosen on training data only)")
for row in [head] + rows:
    print("  ".join(str(c).ljust(w[i]) if i < 2 else str(c).rjust(w[i])
                    for i, c in enumerate(row)))
PYEOF
echo "demo: JSON results and class templates in $OUT/" >&2
