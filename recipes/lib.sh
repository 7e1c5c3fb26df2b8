# recipes/lib.sh: shared by the recipes (sourced, not run). Each recipe runs one
# row of the README's Fashion-MNIST results table: it times one convnet command
# run with --json, keeps the JSON in $RUNS/NAME.json (RUNS defaults to runs/)
# and prints one line: the row, its test accuracy and wall-clock seconds.
# BIN (default bin/convnet) names the tool; extra arguments of a recipe are
# passed on to its command (e.g. --threads 1, --data DIR).
set -eu
BIN=${BIN:-bin/convnet}
RUNS=${RUNS:-runs}
if [ ! -x "$BIN" ]; then
    echo "recipe: '$BIN' is not an executable; build it with 'make' (or set BIN)" >&2
    exit 2
fi
mkdir -p "$RUNS"

# recipe_run NAME COMMAND...: run COMMAND (which prints one JSON object) into
# $RUNS/NAME.json, then print "NAME  test accuracy A  seconds S".
recipe_run() {
    name=$1
    shift
    start=$(date +%s.%N)
    "$@" > "$RUNS/$name.json"
    end=$(date +%s.%N)
    acc=$(sed -n 's/.*"test_accuracy": *\([0-9.]*\).*/\1/p' "$RUNS/$name.json" | head -n 1)
    secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", b - a }')
    printf '%s  test accuracy %s  seconds %s  (%s)\n' "$name" "${acc:-?}" "$secs" \
        "$RUNS/$name.json"
}
