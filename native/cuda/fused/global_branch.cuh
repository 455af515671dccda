// The global branch on the GPU (docs/numerics.md §2-§4): V-level counts -> 15 features -> GFE -> 7
// curve parameters -> the 256-entry retouch table r(V), for a batch of images in one launch per
// stage. Results stay in device memory for the local-branch kernels and are copied back
// asynchronously for GlobalResult.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "core/engine_settings.h"
#include "core/model.h"

namespace flwnet::cuda {

constexpr int kMaxBatch = 16;  // images per launch; larger batches are split by the caller

// One image of a batch in device memory: interleaved 8-bit pixels, rows packed.
struct DeviceImage {
  const uint8_t* pixels = nullptr;
  int width = 0;
  int height = 0;
  int channels = 3;  // 3 (RGB) or 4 (RGBA)
};

// A batch passed by value as a kernel parameter (no descriptor upload).
struct DeviceBatch {
  int count = 0;
  DeviceImage image[kMaxBatch];
  double exposure[kMaxBatch] = {};
};

// Number of GFE parameters (g1..g5 weights and biases), stored after the local branch's in the packed order.
constexpr int kDenseParamCount = 15 * 16 + 16 + 16 * 16 + 16 + 31 * 16 + 16 + 16 * 16 + 16 + 16 * 7 + 7;

// Device buffers of the global branch, `count` entries each (one per batch image).
struct GlobalBranchBuffers {
  unsigned long long* levelCounts = nullptr;  // [count][256]; cleared by launchLevelCounts
  double* features = nullptr;                 // [count][15]
  double* curve = nullptr;                    // [count][7]
  float* retouch = nullptr;                   // [count][256]: r for each V level, rounded from double
};

struct GlobalBranchParams {
  DeviceBatch batch;
  const float* denseWeights = nullptr;  // device copy of the kDenseParamCount GFE parameters
  GlobalBranchBuffers out;
  CudaLevelCounts levelCounts = CudaLevelCounts::Shared;  // BackendOptions::cudaLevelCounts
};

// Clears and fills out.levelCounts (a shared-memory histogram per block, one global merge per block;
// with params.levelCounts == Warp the lanes of a warp holding the same level add once).
void launchLevelCounts(const GlobalBranchParams& params, int multiprocessors, cudaStream_t stream);

// One block per image: features (numpy.histogram bin rule in double), GFE in double, curve and the
// retouch table. Must follow launchLevelCounts on the same stream.
void launchFeaturesAndCurve(const GlobalBranchParams& params, cudaStream_t stream);

// Both of the above in order.
void launchGlobalBranch(const GlobalBranchParams& params, int multiprocessors, cudaStream_t stream);

}  // namespace flwnet::cuda
