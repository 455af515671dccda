// V-level counting of the global branch with warp aggregation (engine option cudaLevelCounts:
// 'warp', BackendOptions::cudaLevelCounts): the lanes of a warp that hold the same level add to the
// block's shared histogram once, with the number of such lanes, so a dark image (most pixels at a
// few levels) no longer serialises every thread on one shared-memory counter. Counts are integers, so the result equals the default
// kernel's exactly. The default ("shared", global_branch.cu) stays until this one is measured.
#pragma once
#include <cuda_runtime.h>

#include "cuda/fused/global_branch.cuh"

namespace flwnet::cuda {

// "shared" or "warp", as the engine option names them.
const char* levelCountsName(CudaLevelCounts counts);

// Adds each image's level counts into counts[image][256] (cleared by the caller), `blocks` blocks
// of kLevelCountsWarpThreads per image.
constexpr int kLevelCountsWarpThreads = 256;
void launchLevelCountsWarp(const DeviceBatch& batch, unsigned long long* counts, unsigned blocks, cudaStream_t stream);

}  // namespace flwnet::cuda
