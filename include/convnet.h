/* convnet.h: the public API of libconvnet, a deep-learning toolkit for visual
 * recognition in C. Include this one header; link with `pkg-config --libs convnet`.
 *
 * Rooms (see docs/ARCHITECTURE.md):
 *   convnet/core.h     status, tensors, memory, RNG, threads, time, logging
 *   convnet/kernels.h  GEMM and distance kernels on raw arrays
 *   convnet/data.h     IDX datasets, splits, normalisation
 *   convnet/classic.h  kNN, linear SVM / softmax, random search, gradient checking
 *   convnet/io.h       PNG grids
 */
#ifndef CONVNET_H
#define CONVNET_H

#include "convnet/core.h"
#include "convnet/kernels.h"
#include "convnet/data.h"
#include "convnet/classic.h"
#include "convnet/io.h"

#endif /* CONVNET_H */
