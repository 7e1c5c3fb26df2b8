#!/bin/sh
# recipes/svm.sh: multiclass linear SVM (hinge loss, SGD), learning rate and L2
# strength chosen by random search on the validation split (docs/linear.md).
# Published row: LinearSVC 0.836.
. "$(dirname "$0")/lib.sh"
recipe_run svm "$BIN" linear --loss svm --search --json --quiet "$@"
