// Turning CUDA runtime failures into flwnet::Error. Every runtime call in the CUDA backends goes
// through FLWNET_CUDA_CHECK, and every kernel launch is followed by FLWNET_CUDA_CHECK_LAUNCH, so a
// failure surfaces as a typed error at the call that caused it (or, for asynchronous faults, at
// the next synchronisation) instead of being lost.
#pragma once
#include <cuda_runtime.h>

#include <string>

#include "core/error.h"

namespace flwnet::cuda {

// Allocation failures map to OutOfMemory so the caller can retry smaller; everything else is a
// Device error. A sticky error (illegal address, launch failure) poisons the context: the
// backend reports it and stays destructible, but further work on it fails with the same error.
inline ErrorCode errorCodeFor(cudaError_t status) {
  return status == cudaErrorMemoryAllocation ? ErrorCode::OutOfMemory : ErrorCode::Device;
}

[[noreturn]] inline void throwCudaError(cudaError_t status, const char* what, const char* file, int line) {
  throw Error(errorCodeFor(status), std::string(what) + ": " + cudaGetErrorString(status) + " (" + file + ":" +
                                        std::to_string(line) + ")");
}

}  // namespace flwnet::cuda

#define FLWNET_CUDA_CHECK(call)                                                       \
  do {                                                                                \
    const cudaError_t flwnetCudaStatus_ = (call);                                     \
    if (flwnetCudaStatus_ != cudaSuccess) {                                           \
      ::flwnet::cuda::throwCudaError(flwnetCudaStatus_, #call, __FILE__, __LINE__);   \
    }                                                                                 \
  } while (0)

// After a <<<...>>> launch: reports bad launch configurations immediately.
#define FLWNET_CUDA_CHECK_LAUNCH(kernelName)                                          \
  do {                                                                                \
    const cudaError_t flwnetCudaStatus_ = cudaGetLastError();                         \
    if (flwnetCudaStatus_ != cudaSuccess) {                                           \
      ::flwnet::cuda::throwCudaError(flwnetCudaStatus_, "launch of " kernelName, __FILE__, __LINE__); \
    }                                                                                 \
  } while (0)
