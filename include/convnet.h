/* convnet.h: the public API of libconvnet, a deep-learning toolkit for visual
 * recognition in C. Include this one header; link with `pkg-config --libs convnet`.
 *
 * Rooms (see docs/ARCHITECTURE.md):
 *   convnet/core.h                status, tensors, memory, RNG, threads, time, logging
 *   convnet/kernels.h             GEMM and distance kernels on raw arrays
 *   convnet/conv.h                2-D convolution and pooling kernels
 *   convnet/norm_kernels.h        batch / layer / group / instance norm, LRN kernels
 *   convnet/activation_kernels.h  activations, softmax, Maxout, dropout kernels
 *   convnet/loss_kernels.h        loss kernels (cross-entropy, margins, regression,
 *                                 metric learning)
 *   convnet/data.h                IDX datasets, splits, normalisation
 *   convnet/classic.h             kNN, linear SVM / softmax, random search, gradient checking
 *   convnet/io.h                  PNG grids
 *   convnet/safetensors.h         the strict safetensors reader and writer
 */
#ifndef CONVNET_H
#define CONVNET_H

#include "convnet/core.h"
#include "convnet/kernels.h"
#include "convnet/conv.h"
#include "convnet/norm_kernels.h"
#include "convnet/activation_kernels.h"
#include "convnet/loss_kernels.h"
#include "convnet/data.h"
#include "convnet/classic.h"
#include "convnet/io.h"
#include "convnet/safetensors.h"

#endif /* CONVNET_H */
