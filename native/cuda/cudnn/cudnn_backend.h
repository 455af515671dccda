// FLW-Net on the GPU with the seven 3x3 convolutions executed by cuDNN (legacy API) and the
// remaining element-wise work in small custom kernels. cuDNN is opened at run time with dlopen, so
// the addon stays loadable on machines without it; creation fails with ErrorCode::Device there.
#pragma once
#include <memory>

#include "core/backend.h"
#include "core/model.h"

namespace flwnet {

// Builds the cuDNN backend on options.deviceIndex. Precision::Exact runs fp32 NCHW with FMA math
// (no TF32); Precision::Fast runs fp16 NHWC tensors on tensor cores with fp32 accumulation.
// Throws flwnet::Error (ErrorCode::Device when libcudnn.so.9 or the device is unavailable).
std::unique_ptr<Backend> createCudnnBackend(const ModelWeights& weights, const BackendOptions& options);

}  // namespace flwnet
