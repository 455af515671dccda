// What one training step works on: a batch of equal-size low-light / reference pairs (docs/numerics.md
// section 8), as views of caller-owned RGB bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace flwnet::train {

struct TrainExampleView {
  const uint8_t* low = nullptr;   // H x W x 3 bytes
  const uint8_t* high = nullptr;  // H x W x 3 bytes
  double exposure = 0.0;          // NaN: the mean of max(R, G, B) / 255 of `high`
};

struct TrainBatchView {
  std::vector<TrainExampleView> examples;
  int width = 0;
  int height = 0;
};

// The five losses and their sum, in the order the JS side reads them.
struct TrainLosses {
  double l1 = 0, ssimLoss = 0, color = 0, brightness = 0, structure = 0, total = 0;
};
constexpr int kLossCount = 5;

// The most pixels (over all examples) one step takes: about 1 KiB of activations, gradients and
// loss planes each, so 8 Mi pixels is about 9 GiB (the authors' batch, 171 x 100 x 100, is 1.7 Mi).
constexpr size_t kMaxBatchPixels = size_t(1) << 23;

// Throws InvalidArgument unless the batch is non-empty with positive sizes, non-null data and at
// most kMaxBatchPixels pixels.
void validateBatch(const TrainBatchView& batch);

// The exposure of docs/numerics.md §9: mean over pixels of max(R, G, B) / 255 of the reference.
double referenceExposure(const uint8_t* rgb, int width, int height);

}  // namespace flwnet::train
