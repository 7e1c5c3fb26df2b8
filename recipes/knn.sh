#!/bin/sh
# recipes/knn.sh: k-nearest neighbours on raw pixels; metric (L1/L2), vote and k
# chosen by 5-fold cross-validation on 20,000 training images (docs/knn.md).
# Published Fashion-MNIST kNN rows reach 0.854 (arXiv:1708.07747 benchmark).
. "$(dirname "$0")/lib.sh"
recipe_run knn "$BIN" knn --cv --json --quiet "$@"
