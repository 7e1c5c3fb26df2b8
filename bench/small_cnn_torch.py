#!/usr/bin/python3
"""bench/small_cnn_torch.py: training throughput (images/s) of the issue's small
CNN in PyTorch, the reference rate the loader must beat by 20x (bench/loader.sh).

Model (Fashion-MNIST shaped input, 1 x 28 x 28):
  conv5x5(1->32, pad 2) - ReLU - maxpool2 - conv5x5(32->64, pad 2) - ReLU - maxpool2
  - FC(3136->1024) - ReLU - FC(1024->10)
trained with cross-entropy and SGD (lr 0.01, momentum 0.9), batch 64, on synthetic
data (uniform pixels, random labels: the data does not change the arithmetic),
torch.set_num_threads(THREADS). A few warm-up steps, then STEPS timed steps;
prints "RESULT torch_cnn_train <threads> <images/s>".

Usage: /usr/bin/python3 bench/small_cnn_torch.py [--threads 2] [--steps 200]
"""
import argparse
import time

import torch
import torch.nn.functional as F

from torch_bench import SmallCNN  # the model of bench/run.sh (bench/torch_bench.py)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--warmup", type=int, default=10)
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or args.threads < 1:
        ap.error("--steps, --batch and --threads must be >= 1")

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    model = SmallCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    # a fixed pool of synthetic batches, cycled (no data-loading cost is measured)
    pool = [(torch.rand(args.batch, 1, 28, 28), torch.randint(0, 10, (args.batch,)))
            for _ in range(8)]

    def step(i):
        x, y = pool[i % len(pool)]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for i in range(args.warmup):
        step(i)
    t0 = time.perf_counter()
    for i in range(args.steps):
        loss = step(i)
    dt = time.perf_counter() - t0
    print(f"torch {torch.__version__} threads {torch.get_num_threads()} "
          f"steps {args.steps} seconds {dt:.3f} last loss {loss.item():.4f}")
    print(f"RESULT torch_cnn_train {args.threads} {args.steps * args.batch / dt:.0f}")


if __name__ == "__main__":
    main()
