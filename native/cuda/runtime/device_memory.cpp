#include "cuda/runtime/device_memory.h"

#include <string>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"

namespace flwnet::cuda {
namespace {

// Tries 1.5x the request, then exactly the request; returns the capacity obtained or throws.
template <typename Allocate>
size_t allocateGrowing(size_t bytes, const char* what, Allocate allocate) {
  const size_t generous = alignUp(bytes + bytes / 2);
  if (allocate(generous) == cudaSuccess) return generous;
  cudaGetLastError();  // allocation failures are not sticky; keep later launch checks clean
  const size_t exact = alignUp(bytes);
  const cudaError_t status = allocate(exact);
  if (status == cudaSuccess) return exact;
  cudaGetLastError();
  throw Error(errorCodeFor(status), std::string("could not allocate ") + std::to_string(bytes >> 20) + " MiB of " +
                                        what + ": " + cudaGetErrorString(status));
}

}  // namespace

void DeviceMemory::reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  release();
  capacity_ = allocateGrowing(bytes, "device memory", [&](size_t size) {
    void* p = nullptr;
    const cudaError_t status = cudaMalloc(&p, size);
    data_ = status == cudaSuccess ? static_cast<unsigned char*>(p) : nullptr;
    return status;
  });
}

void DeviceMemory::release() noexcept {
  if (data_ != nullptr) cudaFree(data_);
  data_ = nullptr;
  capacity_ = 0;
}

void PinnedMemory::reserve(size_t bytes) {
  if (bytes <= capacity_) return;
  release();
  capacity_ = allocateGrowing(bytes, "pinned host memory", [&](size_t size) {
    void* p = nullptr;
    const cudaError_t status = cudaHostAlloc(&p, size, cudaHostAllocPortable);
    data_ = status == cudaSuccess ? static_cast<unsigned char*>(p) : nullptr;
    return status;
  });
}

void PinnedMemory::release() noexcept {
  if (data_ != nullptr) cudaFreeHost(data_);
  data_ = nullptr;
  capacity_ = 0;
}

}  // namespace flwnet::cuda
