#!/bin/sh
# recipes/resnet20-augment.sh: He et al.'s CIFAR ResNet-20 (models/resnet20.cnm;
# 272,186 parameters on 1x28x28 input) with horizontal flips and random 28x28 crops of
# the image padded by 2, SGD with momentum 0.9 (lr 0.1, weight decay 5e-4) and a cosine
# schedule, 25 epochs of batch 128. Target: a ResNet with augmentation >= 0.945 (the
# published ResNet-18 row is 0.949). About an hour on 2 cores.
. "$(dirname "$0")/lib.sh"
recipe_run resnet20-augment "$BIN" train models/resnet20.cnm --out "$RUNS/resnet20-augment" \
    --optimizer momentum --lr 0.1 --weight-decay 5e-4 --schedule cosine --epochs 25 \
    --batch 128 --augment hflip,crop=28:2 --json --quiet "$@"
