#!/usr/bin/python3
"""knn_numpy.py: the numpy side of bench/knn.sh. Times the full Fashion-MNIST
squared-L2 distance matrix, test (10000) against train (60000), d = 784, float32,
with the expansion the course teaches (no loop over pairs):
    (te*te).sum(1)[:,None] - 2*te@tr.T + (tr*tr).sum(1)[None,:]
Data is read from the same IDX .gz files with gzip + numpy. One warm-up, then
--repeats runs; prints "RESULT l2 <threads> <median seconds>". Set the thread
count with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS before starting (numpy's BLAS
reads them at import); --threads only labels the line.
numpy has no practical blocked L1: the broadcast |te[:,None,:] - tr[None,:,:]|
would need a 10000 x 60000 x 784 temporary, so L1 is timed for convnet only."""
import argparse
import gzip
import os
import statistics
import sys
import time

import numpy as np


def load_images(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:4] != b"\x00\x00\x08\x03":
        sys.exit(f"{path}: not an IDX image file")
    n, rows, cols = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
    x = np.frombuffer(raw, dtype=np.uint8, count=n * rows * cols, offset=16)
    return x.reshape(n, rows * cols).astype(np.float32) / np.float32(255.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OPENBLAS_NUM_THREADS", "0")))
    a = ap.parse_args()
    tr = load_images(os.path.join(a.data, "train-images-idx3-ubyte.gz"))
    te = load_images(os.path.join(a.data, "t10k-images-idx3-ubyte.gz"))

    def run():
        return (te * te).sum(1)[:, None] - 2 * te @ tr.T + (tr * tr).sum(1)[None, :]

    d = run()  # warm-up
    del d
    times = []
    for r in range(a.repeats):
        t0 = time.perf_counter()
        d = run()
        times.append(time.perf_counter() - t0)
        print(f"knn_numpy: l2 run {r + 1}: {times[-1]:.3f} s ({d.dtype}, {d.shape})",
              file=sys.stderr)
        del d
    print(f"RESULT l2 {a.threads} {statistics.median(times):.4f}", flush=True)


if __name__ == "__main__":
    main()
