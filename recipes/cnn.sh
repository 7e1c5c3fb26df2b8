#!/bin/sh
# recipes/cnn.sh: the small CNN of `make demo` (models/fmnist-cnn.cnm: conv3x3(32)-BN-
# ReLU-pool, conv3x3(64)-BN-ReLU-pool, 128 hidden with dropout 0.3; 421,738
# parameters), Adam (lr 2e-3) with a cosine schedule, 20 epochs of batch 128,
# horizontal flips. Target: a small CNN >= 0.92.
. "$(dirname "$0")/lib.sh"
recipe_run cnn "$BIN" train models/fmnist-cnn.cnm --out "$RUNS/cnn" --optimizer adam \
    --lr 2e-3 --schedule cosine --epochs 20 --batch 128 --augment hflip --json --quiet "$@"
