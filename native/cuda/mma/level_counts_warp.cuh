// V-level counting of the global branch with warp aggregation (FLWNET_CUDA_LEVEL_COUNTS=warp): the
// lanes of a warp that hold the same level add to the block's shared histogram once, with the
// number of such lanes, so a dark image (most pixels at a few levels) no longer serialises every
// thread on one shared-memory counter. Counts are integers, so the result equals the default
// kernel's exactly. The default ("shared", global_branch.cu) stays until this one is measured.
#pragma once
#include <cuda_runtime.h>

#include "cuda/global_branch.cuh"

namespace flwnet::cuda {

// Whether FLWNET_CUDA_LEVEL_COUNTS selects the warp-aggregated kernel ("warp"; unset, empty or
// "shared" keep the default). Throws InvalidArgument for any other value. Read at each launch.
bool levelCountsWarpSelected();

// Adds each image's level counts into counts[image][256] (cleared by the caller), `blocks` blocks
// of kLevelCountsWarpThreads per image.
constexpr int kLevelCountsWarpThreads = 256;
void launchLevelCountsWarp(const DeviceBatch& batch, unsigned long long* counts, unsigned blocks, cudaStream_t stream);

}  // namespace flwnet::cuda
