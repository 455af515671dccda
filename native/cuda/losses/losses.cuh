// The CUDA twin of the CPU loss kernel (native/cpu/losses_band.h): one launch over tiles of the
// image pair produces per-block float64 partial sums and minima in "accumulators"; a second launch
// reduces each accumulator over the blocks in a fixed order, so results do not depend on scheduling.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "core/losses.h"

namespace flwnet::cuda::lossgpu {

constexpr int kTileWidth = 32;
constexpr int kTileHeight = 8;
constexpr int kMomentsPerChannel = 5;  // sum A, B, A^2, B^2, AB of a consistency channel

// Accumulators of the partial sums, in the order LossSums holds them.
enum Accumulator : int {
  kAbsError = 0,
  kSquaredError,
  kColourOneMinus,
  kColourAcos,
  kSsimSum,
  kCiede2000Sum,
  kBrightnessMoments,                                                       // 3 channels x 5
  kStructureMoments = kBrightnessMoments + 3 * kMomentsPerChannel,         // 6 channels x 5
  kSumAccumulators = kStructureMoments + 6 * kMomentsPerChannel,
  kBrightnessMinima = kSumAccumulators,                                            // 3 channels x (A, B)
  kStructureMinima = kBrightnessMinima + 3 * 2,                             // 6 channels x (A, B)
  kAccumulatorCount = kStructureMinima + 6 * 2,
};

// An interleaved image in device memory: uint8 (value / 255) or float32 samples.
struct LossImageView {
  const void* data = nullptr;
  bool isFloat = false;
  int channels = 3;
};

struct SsimTaps {
  double w[losses::kSsimTaps];
};

// Writes kAccumulatorCount * blocks partials (accumulator-major) for the pair; blocks = tilesX * tilesY.
void launchLossTiles(LossImageView enhanced, LossImageView reference, int width, int height, const SsimTaps& taps,
                     double* partials, cudaStream_t stream);

// Reduces the partials to kAccumulatorCount values in `out` (device memory).
void launchReduceAccumulators(const double* partials, int blocks, double* out, cudaStream_t stream);

}  // namespace flwnet::cuda::lossgpu
