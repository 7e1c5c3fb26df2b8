#!/bin/sh
# recipes/softmax.sh: linear softmax classifier (SGD), learning rate and L2
# strength chosen by random search on the validation split (docs/linear.md).
# Published row: logistic regression 0.842.
. "$(dirname "$0")/lib.sh"
recipe_run softmax "$BIN" linear --loss softmax --search --json --quiet "$@"
