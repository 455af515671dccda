// The ring buffers of activation rows that both CPU schedules (tile_pipeline.h, block_pipeline.h)
// stream through: each ring keeps the last `capacity` rows of one stage's output, tagged with the
// image row they hold, and rows above or below the image read as one shared zero row.
#pragma once
#include <algorithm>
#include <array>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "conv_kernels.h"
#include "core/error.h"

namespace flwnet::cpu {

// Floats in a 64-byte cache line, and p rounded up to the next line (buffers allocated with
// kCacheLineFloats spare floats).
constexpr size_t kCacheLineFloats = 64 / sizeof(float);
template <class T>
T* cacheLineAligned(T* p) {
  return reinterpret_cast<T*>((reinterpret_cast<uintptr_t>(p) + 63) & ~uintptr_t(63));
}

template <int kRings>
class RowRings {
 public:
  // Lays the rings out for rows `bufferWidth` pixels wide, all zero (columns outside the image are
  // never written and must read as zero padding); a capacity below 1 is taken as 1.
  void layout(const std::array<int, kRings>& channels, const std::array<int, kRings>& capacity, int bufferWidth) {
    size_t total = 0;
    for (int r = 0; r < kRings; ++r) {
      total += alignedFloats(static_cast<size_t>(std::max(1, capacity[r])) * channels[r] * bufferWidth);
    }
    if (storage_.size() < total + kCacheLineFloats) storage_.resize(total + kCacheLineFloats);
    float* data = cacheLineAligned(storage_.data());
    std::memset(data, 0, total * sizeof(float));
    for (int r = 0; r < kRings; ++r) {
      Ring& ring = rings_[r];
      ring.channels = channels[r];
      ring.capacity = std::max(1, capacity[r]);
      ring.data = data;
      ring.tags.assign(ring.capacity, INT_MIN);
      data += alignedFloats(static_cast<size_t>(ring.capacity) * ring.channels * bufferWidth);
    }
    const size_t rowFloats = static_cast<size_t>(bufferWidth) * kLanes;
    if (zeroRow_.size() < rowFloats + kCacheLineFloats) zeroRow_.assign(rowFloats + kCacheLineFloats, 0.0f);
    bufferWidth_ = bufferWidth;
  }

  // Row y of ring `ring`, or the zero row outside [0, height); raises overrunMessage when the row
  // has already been overwritten.
  const float* rowOf(int ring, int y, int height, const char* overrunMessage) const {
    if (y < 0 || y >= height) return zeroRow();  // zero padding above and below the image
    const Ring& r = rings_[ring];
    const int slot = y % r.capacity;
    FLWNET_CHECK(r.tags[slot] == y, overrunMessage);
    return r.data + static_cast<size_t>(slot) * r.channels * bufferWidth_;
  }

  // The slot that row y of ring `ring` is written to, tagged as holding y from now on.
  float* rowFor(int ring, int y) {
    Ring& r = rings_[ring];
    const int slot = y % r.capacity;
    r.tags[slot] = y;
    return r.data + static_cast<size_t>(slot) * r.channels * bufferWidth_;
  }

  const float* zeroRow() const { return cacheLineAligned(zeroRow_.data()); }

 private:
  // Rings and rows start on a cache line: a 16-channel pixel (64 bytes) then fills one line, where
  // malloc's 16-byte alignment made every vector load and store of a pixel straddle two.
  static size_t alignedFloats(size_t floats) { return (floats + kCacheLineFloats - 1) / kCacheLineFloats * kCacheLineFloats; }

  struct Ring {
    int channels = 0;
    int capacity = 0;
    float* data = nullptr;
    std::vector<int> tags;  // which image row each slot holds
  };

  std::array<Ring, kRings> rings_{};
  std::vector<float> storage_;
  std::vector<float> zeroRow_;
  int bufferWidth_ = 0;
};

}  // namespace flwnet::cpu
