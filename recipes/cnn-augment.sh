#!/bin/sh
# recipes/cnn-augment.sh: the same network at twice the width (64 and 128 filters,
# 256 hidden; 1.7M parameters) with horizontal flips and random 28x28 crops of the
# image padded by 2 pixels, Adam (lr 2e-3) with a cosine schedule, 30 epochs of
# batch 128. Target: a CNN with augmentation >= 0.93.
. "$(dirname "$0")/lib.sh"
recipe_run cnn-augment "$BIN" train models/fmnist-cnn.cnm --params width=64,hidden=256 \
    --out "$RUNS/cnn-augment" --optimizer adam --lr 2e-3 --schedule cosine --epochs 30 \
    --batch 128 --augment hflip,crop=28:2 --json --quiet "$@"
