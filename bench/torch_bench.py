#!/usr/bin/python3
"""bench/torch_bench.py: the PyTorch side of bench/run.sh (the "fast CPU kernels"
benchmark). One process times ONE workload with ONE threading setting and prints
one JSON line on stdout (the same keys as bench/train_bench.c), so its peak memory
(max RSS) is that workload's alone.

The threading setting is torch.set_num_threads(--threads) (PyTorch's OpenMP
intra-op threads) plus whatever OPENBLAS_NUM_THREADS the caller put in the
environment (OpenBLAS reads it when it is loaded; unset: one thread per core).
bench/run.sh tries several and keeps the fastest.

Workloads (identical shapes and ops to bench/small_cnn.cnm, models/resnet20.cnm
and bench/mlp.cnm; float32; synthetic data: a pool of 8 batches of uniform pixels
and random labels, cycled, so no data loading is timed):
  cnn_train             small CNN, batch 64: zero_grad, forward, cross-entropy,
                        backward, SGD step (lr 0.01, momentum 0.9)
  resnet20_train        ResNet-20 (CIFAR, 1x1 projection shortcuts), batch 128
  mlp_train             MLP 784-512-10, batch 128
  cnn_infer_b1/_b128    small CNN forward under torch.inference_mode(), eval mode
  resnet20_infer_b1/_b128
  resnet20_conv_fwd     the convolutions alone in resnet20_infer_b128: only the
                        time inside its nn.Conv2d modules' forwards is counted
                        (perf_counter in forward pre-hooks and hooks)
  knn                   squared L2 distances of the first --knn-queries
                        Fashion-MNIST test images to the 60000 training images:
                        |q|^2 + |r|^2 - 2 q.r with one addmm, clamped at 0
  sgemm                 torch.mm of two --gemm-n square matrices
Weights: Kaiming normal (fan-in, ReLU gain) for convolution and linear weights,
zero biases, as convnet's defaults (the initialisation does not change the speed).
Timing as train_bench.c: warm-up iterations (at least --warmup-iters, 2, and
--warmup-s seconds) estimate one iteration (the last); each of --repeats repeats
runs as many iterations as fill --target-s seconds and records seconds per
iteration.

Usage: /usr/bin/python3 bench/torch_bench.py --workload W --threads T
       [--setting LABEL] [--repeats 5] [--target-s 1] [--warmup-s 0.5]
       [--warmup-iters 2] [--data DIR] [--knn-queries 2000] [--gemm-n 2048]
"""
import argparse
import gzip
import json
import math
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

POOL = 8


class SmallCNN(nn.Module):
    """conv5x5(1->32, pad 2)-ReLU-maxpool2 - conv5x5(32->64, pad 2)-ReLU-maxpool2
    - FC(3136->1024)-ReLU - FC(1024->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 5, padding=2)
        self.conv2 = nn.Conv2d(32, 64, 5, padding=2)
        self.fc1 = nn.Linear(64 * 7 * 7, 1024)
        self.fc2 = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with batch norm; a 1x1 projection (+ batch norm) when
    the shape changes, else the identity (models/resnet20.cnm's blocks)."""

    def __init__(self, cin, planes, stride):
        super().__init__()
        self.a = nn.Conv2d(cin, planes, 3, stride=stride, padding=1, bias=False)
        self.an = nn.BatchNorm2d(planes)
        self.b = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(planes)
        self.proj = None
        if stride != 1 or cin != planes:
            self.proj = nn.Sequential(nn.Conv2d(cin, planes, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.bn(self.b(F.relu(self.an(self.a(x)))))
        return F.relu(y + (x if self.proj is None else self.proj(x)))


class ResNet20(nn.Module):
    """He et al. 2015, CIFAR variant: 3x3 conv 16, three stages of 3 basic blocks
    (16, 32, 64 filters), global average pooling, linear 64 -> 10."""

    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(3):
                blocks.append(BasicBlock(cin, planes, stride if i == 0 else 1))
                cin = planes
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


class MLP(nn.Module):
    """784 -> 512 -> ReLU -> 10."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 512)
        self.fc2 = nn.Linear(512, 10)

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))


def init_like_convnet(model):
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, mode="fan_in", nonlinearity="relu")
            if mod.bias is not None:
                nn.init.zeros_(mod.bias)
    return model


# name: (model class, batch, training, per-sample input shape)
MODELS = {
    "cnn_train": (SmallCNN, 64, True, (1, 28, 28)),
    "resnet20_train": (ResNet20, 128, True, (3, 32, 32)),
    "mlp_train": (MLP, 128, True, (784,)),
    "cnn_infer_b1": (SmallCNN, 1, False, (1, 28, 28)),
    "cnn_infer_b128": (SmallCNN, 128, False, (1, 28, 28)),
    "resnet20_infer_b1": (ResNet20, 1, False, (3, 32, 32)),
    "resnet20_infer_b128": (ResNet20, 128, False, (3, 32, 32)),
    "resnet20_conv_fwd": (ResNet20, 128, False, (3, 32, 32)),
}


def model_step(name):
    """One iteration of a model workload and the images it processes."""
    cls, batch, training, shape = MODELS[name]
    model = init_like_convnet(cls())
    pool = [(torch.rand(batch, *shape), torch.randint(0, 10, (batch,))) for _ in range(POOL)]
    state = {"i": 0, "loss": None, "clock": None}
    if name.endswith("_conv_fwd"):
        times = {"conv_s": 0.0, "t0": 0.0}

        def pre(_mod, _inp):
            times["t0"] = time.perf_counter()

        def post(_mod, _inp, _out):
            times["conv_s"] += time.perf_counter() - times["t0"]

        for mod in model.modules():
            if isinstance(mod, nn.Conv2d):
                mod.register_forward_pre_hook(pre)
                mod.register_forward_hook(post)
        state["clock"] = lambda: times["conv_s"]
    if training:
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

        def step():
            x, y = pool[state["i"] % POOL]
            state["i"] += 1
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            state["loss"] = loss
    else:
        model.eval()

        def step():
            x, _ = pool[state["i"] % POOL]
            state["i"] += 1
            with torch.inference_mode():
                model(x)
    return step, batch, state


def load_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:4] != b"\x00\x00\x08\x03":
        sys.exit(f"torch_bench: {path}: not an IDX image file")
    n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    x = torch.frombuffer(bytearray(raw[16:16 + n * rows * cols]), dtype=torch.uint8)
    return x.reshape(n, rows * cols).to(torch.float32) / 255.0


def knn_step(data, queries):
    train = load_images(os.path.join(data, "train-images-idx3-ubyte.gz"))
    test = load_images(os.path.join(data, "t10k-images-idx3-ubyte.gz"))[:queries].contiguous()
    out = torch.empty(test.shape[0], train.shape[0])

    def step():
        qn = (test * test).sum(1)
        rn = (train * train).sum(1)
        torch.addmm(rn.unsqueeze(0), test, train.t(), beta=1, alpha=-2, out=out)
        out.add_(qn.unsqueeze(1)).clamp_(min=0)
    return step, test.shape[0]


def sgemm_step(n):
    a = torch.rand(n, n) * 2 - 1
    b = torch.rand(n, n) * 2 - 1
    c = torch.empty(n, n)

    def step():
        torch.mm(a, b, out=c)
    return step, 1


def measure(step, a, clock=None):
    t0 = time.perf_counter()
    warm, last = 0, 0.0
    while warm < a.warmup_iters or time.perf_counter() - t0 < a.warmup_s:
        s = time.perf_counter()
        step()
        last = time.perf_counter() - s
        warm += 1
    iters = max(1, min(10_000_000, math.ceil(a.target_s / max(last, 1e-9))))
    clock = clock or time.perf_counter  # conv_fwd: the seconds inside the convolutions
    times = []
    for r in range(a.repeats):
        s = clock()
        for _ in range(iters):
            step()
        times.append((clock() - s) / iters)
        print(f"torch_bench: {a.workload} repeat {r + 1}: {times[-1]:.6f} s per iteration "
              f"({iters} iterations)", file=sys.stderr)
    return times, iters


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", required=True,
                    choices=sorted(MODELS) + ["knn", "sgemm"])
    ap.add_argument("--threads", type=int, required=True)
    ap.add_argument("--setting", default="")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--target-s", type=float, default=1.0)
    ap.add_argument("--warmup-s", type=float, default=0.5)
    ap.add_argument("--warmup-iters", type=int, default=2)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--knn-queries", type=int, default=2000)
    ap.add_argument("--gemm-n", type=int, default=2048)
    a = ap.parse_args()
    if min(a.threads, a.warmup_iters, a.knn_queries, a.gemm_n) < 1 or not 1 <= a.repeats <= 100:
        ap.error("--threads, --warmup-iters, --knn-queries, --gemm-n must be >= 1 "
                 "and --repeats in 1..100")

    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    state = {"loss": None}
    batch = 0
    if a.workload == "knn":
        step, items = knn_step(a.data, a.knn_queries)
    elif a.workload == "sgemm":
        step, items = sgemm_step(a.gemm_n)
    else:
        step, batch, state = model_step(a.workload)
        items = batch
    times, iters = measure(step, a, state.get("clock"))
    med = statistics.median(times)
    loss = state["loss"]
    setting = a.setting or (f"torch.set_num_threads({a.threads}), OPENBLAS_NUM_THREADS="
                            f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    rec = {
        "side": "pytorch", "workload": a.workload, "threads": a.threads,
        "setting": setting, "torch_threads": torch.get_num_threads(),
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "build": f"torch {torch.__version__}", "batch": batch, "items_per_iter": items,
        "iters": iters, "repeats": a.repeats, "times_s": times, "median_s": med,
        "items_per_s": items / med, "flops_per_item": None,
        "max_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "loss": None if loss is None else float(loss.item()),
    }
    print(json.dumps(rec), flush=True)


if __name__ == "__main__":
    main()
