#!/usr/bin/python3
"""bench/fft/fft_conv.py: the FFT-convolution comparison of docs/performance.md.
A numpy prototype (pocketfft and einsum, one thread) of the forward pass of a
stride-1 "same" convolution computed through FFTs, checked against a direct sum on
one image, timed (median of 5) on the three layers of bench/fft/*.cnm, whose
convnet forward time is `convnet bench bench/fft/<layer>.cnm --eval --batch N
--threads 1 --profile`. Run: OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
/usr/bin/python3 bench/fft/fft_conv.py"""
import itertools
import time

import numpy as np

def fftconv(x, w, pad):
    n, ci, h, wd = x.shape; co, _, k, _ = w.shape
    H, W = h + 2 * pad, wd + 2 * pad            # linear conv size without wrap: H + k - 1
    fh, fw = H + k - 1, W + k - 1
    X = np.fft.rfft2(np.pad(x, ((0,0),(0,0),(pad,pad),(pad,pad))), s=(fh, fw))
    Wf = np.fft.rfft2(w[:, :, ::-1, ::-1], s=(fh, fw))          # correlation
    Y = np.einsum('nihw,oihw->nohw', X, Wf, optimize=True)
    y = np.fft.irfft2(Y, s=(fh, fw))
    return y[:, :, k - 1:k - 1 + H - k + 1, k - 1:k - 1 + W - k + 1]
def direct_check(x, w, pad, y):
    import itertools
    n, ci, h, wd = x.shape; co, _, k, _ = w.shape
    xp = np.pad(x, ((0,0),(0,0),(pad,pad),(pad,pad)))
    ref = np.zeros_like(y)
    for a, b in itertools.product(range(k), range(k)):
        ref += np.einsum('nihw,oi->nohw', xp[:, :, a:a+h, b:b+wd], w[:, :, a, b])
    return np.abs(ref - y).max()
for n, ci, co, k, h in [(64, 32, 64, 5, 14), (64, 1, 32, 5, 28), (8, 64, 64, 7, 56)]:
    x = np.random.rand(n, ci, h, h).astype(np.float32); w = np.random.rand(co, ci, k, k).astype(np.float32)
    y = fftconv(x, w, k // 2)
    err = direct_check(x[:1], w, k // 2, fftconv(x[:1], w, k // 2))
    ts = []
    for _ in range(5):
        t0 = time.perf_counter(); fftconv(x, w, k // 2); ts.append(time.perf_counter() - t0)
    print(f"n={n} {ci}->{co} {k}x{k} {h}x{h}: fft {1e3*sorted(ts)[2]:.1f} ms (check {err:.1e}), "
          f"direct MACs {n*ci*co*k*k*h*h/1e6:.0f}M")
