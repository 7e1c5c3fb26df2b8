/* convnet.h: the public API of libconvnet, a deep-learning toolkit for visual
 * recognition in C. Include this one header; link with `pkg-config --libs convnet`.
 *
 * Rooms (see docs/ARCHITECTURE.md):
 *   convnet/core.h                status, tensors, memory, RNG, threads, time, logging
 *   convnet/kernels.h             GEMM and distance kernels on raw arrays
 *   convnet/conv.h                2-D convolution and pooling kernels
 *   convnet/conv_nd.h             3-D and transposed 2-D convolution kernels
 *   convnet/resample.h            max unpooling, upsampling and padding kernels
 *   convnet/norm_kernels.h        batch / layer / group / instance norm, LRN kernels
 *   convnet/activation_kernels.h  activations, softmax, Maxout, dropout kernels
 *   convnet/loss_kernels.h        loss kernels (cross-entropy, margins, regression,
 *                                 metric learning)
 *   convnet/data.h                IDX datasets, splits, normalisation
 *   convnet/cifar.h               CIFAR-10 / CIFAR-100 binary batches
 *   convnet/image.h               PNG / JPEG decoding, resizing, image folders and lists
 *   convnet/datasets.h            cn_dataset_load: any format, detected
 *   convnet/pca.h                 PCA, PCA / ZCA whitening, [-1, 1] scaling
 *   convnet/augment.h             data augmentation and test-time augmentation
 *   convnet/transform.h           the per-sample transform interface
 *   convnet/loader.h              batch loader with prefetch, samplers, k-fold
 *   convnet/classic.h             kNN, linear SVM / softmax, random search, gradient checking
 *   convnet/io.h                  PNG grids
 *   convnet/safetensors.h         the strict safetensors reader and writer
 *   convnet/init.h                weight initialisers
 *   convnet/model.h               the model graph: build, compile, forward, backward,
 *                                 parameters, whole-model gradient check
 *   convnet/optim.h               optimisers over the parameter store, regularisation,
 *                                 gradient clipping, L-BFGS
 *   convnet/schedule.h            learning-rate and momentum schedules
 *   convnet/checkpoint.h          model weights files and atomic training checkpoints
 *   convnet/train.h               the training loop: epochs, validation, metrics.jsonl,
 *                                 best model, early stopping, checkpoints, NaN guard
 */
#ifndef CONVNET_H
#define CONVNET_H

#include "convnet/core.h"
#include "convnet/kernels.h"
#include "convnet/conv.h"
#include "convnet/conv_nd.h"
#include "convnet/resample.h"
#include "convnet/norm_kernels.h"
#include "convnet/activation_kernels.h"
#include "convnet/loss_kernels.h"
#include "convnet/data.h"
#include "convnet/cifar.h"
#include "convnet/image.h"
#include "convnet/datasets.h"
#include "convnet/pca.h"
#include "convnet/transform.h"
#include "convnet/augment.h"
#include "convnet/loader.h"
#include "convnet/classic.h"
#include "convnet/io.h"
#include "convnet/safetensors.h"
#include "convnet/init.h"
#include "convnet/model.h"
#include "convnet/optim.h"
#include "convnet/schedule.h"
#include "convnet/checkpoint.h"
#include "convnet/builtin.h"
#include "convnet/modelfile.h"
#include "convnet/monitor.h"
#include "convnet/plot.h"
#include "convnet/report.h"
#include "convnet/sanity.h"
#include "convnet/search.h"
#include "convnet/model_text.h"
#include "convnet/summary.h"
#include "convnet/train.h"

#endif /* CONVNET_H */
