// What one in-flight request of the cuDNN backend owns: a stream, the convolution runner bound to
// it, and grow-only device and pinned host buffers. The backend hands slots out one request at a
// time, so nothing in a slot needs locking.
#pragma once
#include <cuda_runtime.h>

#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "cudnn_network.h"
#include "cuda/fused/global_branch.cuh"

namespace flwnet::cudnn {

// A device allocation that only ever grows, so steady-state requests allocate nothing.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // At least `bytes` of device memory. Growing waits for `stream` (queued work may use the old
  // allocation); contents are not kept, and a new allocation is zeroed (on `stream`) when
  // `zeroNew` is set. Throws OutOfMemory when the device has no room.
  void* ensure(size_t bytes, cudaStream_t stream, bool zeroNew = false);

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// The global branch's per-image results for up to cuda::kMaxBatch images.
struct GlobalBranchStorage {
  cuda::GlobalBranchBuffers device;  // carved from one allocation
  double* hostFeatures = nullptr;    // pinned, [kMaxBatch][15]
  double* hostCurve = nullptr;       // pinned, [kMaxBatch][7]
};

struct Slot {
  Slot(std::shared_ptr<const Library> library, const NetworkFormat& format, const DeviceWeights& weights);
  ~Slot();
  Slot(const Slot&) = delete;
  Slot& operator=(const Slot&) = delete;

  cudaStream_t stream = nullptr;
  std::unique_ptr<ConvRunner> conv;
  GlobalBranchStorage global;
  DeviceBuffer images;       // the uploaded input pixels of a group
  DeviceBuffer coarseGrid;   // Vc cells of a group, double
  DeviceBuffer activations;  // every layer's tensors for one band
  DeviceBuffer output;       // one band's output pixels

 private:
  void* globalDevice_ = nullptr;
  void* globalHost_ = nullptr;
};

// Fixed set of slots; acquire() blocks while all are in use.
class SlotPool {
 public:
  explicit SlotPool(std::vector<std::unique_ptr<Slot>> slots);
  int size() const { return static_cast<int>(slots_.size()); }

  class Lease {
   public:
    Lease(SlotPool& pool, Slot* slot) : pool_(pool), slot_(slot) {}
    ~Lease() { pool_.release(slot_); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Slot& operator*() const { return *slot_; }
    Slot* operator->() const { return slot_; }

   private:
    SlotPool& pool_;
    Slot* slot_;
  };
  Lease acquire();

 private:
  void release(Slot* slot);
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<Slot*> free_;
  std::mutex mutex_;
  std::condition_variable available_;
};

}  // namespace flwnet::cudnn
