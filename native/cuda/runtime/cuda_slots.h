// Per-stream working sets of the CUDA backend. Each slot owns a stream, a device arena, pinned
// staging memory and the global-branch buffers for one batch, so enhance() calls from different
// threads run on different slots and overlap their uploads, kernels and downloads.
#pragma once
#include <cuda_runtime.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

#include "cuda/runtime/device_memory.h"
#include "cuda/fused/global_branch.cuh"

namespace flwnet::cuda {

struct Slot {
  cudaStream_t stream = nullptr;
  DeviceMemory arena;        // inputs, coarse grids, output bands of the current batch
  DeviceMemory globals;      // global-branch buffers for kMaxBatch images
  PinnedMemory hostIo;       // input staging followed by output staging
  PinnedMemory hostGlobals;  // features and curves copied back
  GlobalBranchBuffers branch;

  double* hostFeatures() const { return reinterpret_cast<double*>(hostGlobals.data()); }
  double* hostCurves() const { return hostFeatures() + kMaxBatch * kFeatureCount; }
};

class SlotPool {
 public:
  // Creates `count` slots on the current device with the given initial arena and staging sizes.
  SlotPool(int count, size_t arenaBytes, size_t stagingBytes);
  ~SlotPool();
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  int size() const { return static_cast<int>(slots_.size()); }

  // Borrows a free slot for the lifetime of the lease (blocks while all are busy). Returning it
  // waits for the slot's stream, so no queued work outlives the request that queued it.
  class Lease {
   public:
    Lease(SlotPool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Slot& slot() const { return *slot_; }

   private:
    SlotPool& pool_;
    Slot* slot_;
  };

 private:
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::mutex mutex_;
  std::condition_variable available_;
};

}  // namespace flwnet::cuda
