#include "cuda/runtime/cuda_slots.h"

#include "cuda/runtime/cuda_check.h"

namespace flwnet::cuda {
namespace {

size_t globalBufferBytes() {
  return alignUp(sizeof(unsigned long long) * kMaxBatch * kLevels) + alignUp(sizeof(double) * kMaxBatch * kFeatureCount) +
         alignUp(sizeof(double) * kMaxBatch * kCurveCount) + alignUp(sizeof(float) * kMaxBatch * kLevels);
}

void bindGlobalBuffers(Slot& slot) {
  unsigned char* p = slot.globals.data();
  slot.branch.levelCounts = reinterpret_cast<unsigned long long*>(p);
  p += alignUp(sizeof(unsigned long long) * kMaxBatch * kLevels);
  slot.branch.features = reinterpret_cast<double*>(p);
  p += alignUp(sizeof(double) * kMaxBatch * kFeatureCount);
  slot.branch.curve = reinterpret_cast<double*>(p);
  p += alignUp(sizeof(double) * kMaxBatch * kCurveCount);
  slot.branch.retouch = reinterpret_cast<float*>(p);
}

}  // namespace

SlotPool::SlotPool(int count, size_t arenaBytes, size_t stagingBytes) {
  for (int i = 0; i < count; ++i) {
    auto slot = std::make_unique<Slot>();
    FLWNET_CUDA_CHECK(cudaStreamCreateWithFlags(&slot->stream, cudaStreamNonBlocking));
    slots_.push_back(std::move(slot));  // owned from here on, so the destructor cleans up on a throw below
    Slot& s = *slots_.back();
    s.globals.reserve(globalBufferBytes());
    bindGlobalBuffers(s);
    s.hostGlobals.reserve(sizeof(double) * kMaxBatch * (kFeatureCount + kCurveCount));
    s.arena.reserve(arenaBytes);
    s.hostIo.reserve(stagingBytes);
    free_.push_back(&s);
  }
}

SlotPool::~SlotPool() {
  for (auto& slot : slots_) {
    if (slot->stream != nullptr) {
      cudaStreamSynchronize(slot->stream);  // errors ignored: a poisoned context must still tear down
      cudaStreamDestroy(slot->stream);
    }
  }
}

SlotPool::Lease::Lease(SlotPool& pool) : pool_(pool) {
  std::unique_lock<std::mutex> lock(pool.mutex_);
  pool.available_.wait(lock, [&] { return !pool.free_.empty(); });
  slot_ = pool.free_.back();
  pool.free_.pop_back();
}

SlotPool::Lease::~Lease() {
  cudaStreamSynchronize(slot_->stream);  // no throw from a destructor; errors surface in the request
  {
    std::lock_guard<std::mutex> lock(pool_.mutex_);
    pool_.free_.push_back(slot_);
  }
  pool_.available_.notify_one();
}

}  // namespace flwnet::cuda
