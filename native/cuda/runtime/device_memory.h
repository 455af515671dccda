// Owned device and pinned host allocations that grow on demand and never shrink, so a backend's
// steady state (same or smaller requests) performs no cudaMalloc. Growth first tries 1.5x the
// request to make the next growth rarer, then exactly the request. A failed allocation leaves the
// buffer empty and throws OutOfMemory, clearing the runtime's last-error state so later launch
// checks do not report it again.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

namespace flwnet::cuda {

class DeviceMemory {
 public:
  DeviceMemory() = default;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  ~DeviceMemory() { release(); }

  // Ensures at least `bytes` of capacity; the caller guarantees no queued work uses the old block.
  void reserve(size_t bytes);
  void release() noexcept;
  unsigned char* data() const { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  unsigned char* data_ = nullptr;
  size_t capacity_ = 0;
};

class PinnedMemory {
 public:
  PinnedMemory() = default;
  PinnedMemory(const PinnedMemory&) = delete;
  PinnedMemory& operator=(const PinnedMemory&) = delete;
  ~PinnedMemory() { release(); }

  void reserve(size_t bytes);
  void release() noexcept;
  unsigned char* data() const { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  unsigned char* data_ = nullptr;
  size_t capacity_ = 0;
};

// Rounds up to the 256-byte alignment used for every sub-buffer of an arena.
constexpr size_t alignUp(size_t bytes) { return (bytes + 255) & ~static_cast<size_t>(255); }

}  // namespace flwnet::cuda
