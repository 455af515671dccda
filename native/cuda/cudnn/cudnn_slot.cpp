#include "cudnn_slot.h"

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"

namespace flwnet::cudnn {

namespace {

constexpr size_t kAlign = 256;
size_t alignUp(size_t bytes) { return (bytes + kAlign - 1) / kAlign * kAlign; }

// cudaMalloc reports failure through the runtime's last-error state as well; clearing it keeps a
// later launch check from blaming a kernel for an allocation that was already reported.
void allocateOrThrow(void** pointer, size_t bytes, const char* what) {
  const cudaError_t status = cudaMalloc(pointer, bytes);
  if (status != cudaSuccess) {
    *pointer = nullptr;
    cudaGetLastError();
    cuda::throwCudaError(status, what, __FILE__, __LINE__);
  }
}

}  // namespace

DeviceBuffer::~DeviceBuffer() { cudaFree(data_); }

void* DeviceBuffer::ensure(size_t bytes, cudaStream_t stream, bool zeroNew) {
  if (bytes <= size_ && data_ != nullptr) return data_;
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaFree(data_);
  data_ = nullptr;
  size_ = 0;
  allocateOrThrow(&data_, bytes, "cudaMalloc (cuDNN backend buffer)");
  size_ = bytes;
  if (zeroNew) FLWNET_CUDA_CHECK(cudaMemsetAsync(data_, 0, bytes, stream));
  return data_;
}

Slot::Slot(std::shared_ptr<const Library> library, const NetworkFormat& format, const DeviceWeights& weights) {
  FLWNET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  try {
    conv = std::make_unique<ConvRunner>(std::move(library), format, weights, stream);
    const size_t n = cuda::kMaxBatch;
    const size_t counts = alignUp(n * kLevels * sizeof(unsigned long long));
    const size_t features = alignUp(n * kFeatureCount * sizeof(double));
    const size_t curve = alignUp(n * kCurveCount * sizeof(double));
    const size_t retouch = alignUp(n * kLevels * sizeof(float));
    allocateOrThrow(&globalDevice_, counts + features + curve + retouch, "cudaMalloc (global branch buffers)");
    char* base = static_cast<char*>(globalDevice_);
    global.device.levelCounts = reinterpret_cast<unsigned long long*>(base);
    global.device.features = reinterpret_cast<double*>(base + counts);
    global.device.curve = reinterpret_cast<double*>(base + counts + features);
    global.device.retouch = reinterpret_cast<float*>(base + counts + features + curve);
    FLWNET_CUDA_CHECK(cudaMallocHost(&globalHost_, n * (kFeatureCount + kCurveCount) * sizeof(double)));
    global.hostFeatures = static_cast<double*>(globalHost_);
    global.hostCurve = global.hostFeatures + n * kFeatureCount;
  } catch (...) {
    conv.reset();
    cudaFree(globalDevice_);
    cudaStreamDestroy(stream);
    throw;
  }
}

Slot::~Slot() {
  // Queued work may still read or write the slot's memory; errors no longer matter at this point.
  cudaStreamSynchronize(stream);
  conv.reset();
  cudaFreeHost(globalHost_);
  cudaFree(globalDevice_);
  cudaStreamDestroy(stream);
}

SlotPool::SlotPool(std::vector<std::unique_ptr<Slot>> slots) : slots_(std::move(slots)) {
  for (auto& slot : slots_) free_.push_back(slot.get());
}

SlotPool::Lease SlotPool::acquire() {
  std::unique_lock<std::mutex> lock(mutex_);
  available_.wait(lock, [this] { return !free_.empty(); });
  Slot* slot = free_.back();
  free_.pop_back();
  return Lease(*this, slot);
}

void SlotPool::release(Slot* slot) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(slot);
  }
  available_.notify_one();
}

}  // namespace flwnet::cudnn
