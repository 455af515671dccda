// Warp-aggregated V-level counts; see level_counts_warp.cuh.
#include "cuda/mma/level_counts_warp.cuh"

#include "cuda/runtime/cuda_check.h"

namespace flwnet::cuda {
namespace {

constexpr unsigned kNoLevel = kLevels;  // lanes past the image's last pixel

// gridDim.y indexes the batch image. The loop bound is the same for all lanes of a warp (each warp
// walks 32 consecutive pixels a step), so __match_any_sync always sees the whole warp.
__global__ void __launch_bounds__(kLevelCountsWarpThreads) levelCountsWarpKernel(DeviceBatch batch,
                                                                                 unsigned long long* counts) {
  __shared__ unsigned int local[kLevels];
  const DeviceImage img = batch.image[blockIdx.y];
  for (int i = threadIdx.x; i < kLevels; i += blockDim.x) local[i] = 0;
  __syncthreads();
  const unsigned lane = threadIdx.x & 31u;
  const size_t pixels = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t base = static_cast<size_t>(blockIdx.x) * blockDim.x + (threadIdx.x & ~31u); base < pixels;
       base += stride) {
    const size_t p = base + lane;
    unsigned v = kNoLevel;
    if (p < pixels) {
      const uint8_t* px = img.pixels + p * img.channels;
      v = max(max(px[0], px[1]), px[2]);
    }
    const unsigned peers = __match_any_sync(0xffffffffu, v);
    if (v != kNoLevel && lane == static_cast<unsigned>(__ffs(peers) - 1)) atomicAdd(&local[v], __popc(peers));
  }
  __syncthreads();
  unsigned long long* mine = counts + static_cast<size_t>(blockIdx.y) * kLevels;
  for (int i = threadIdx.x; i < kLevels; i += blockDim.x) {
    if (local[i] != 0) atomicAdd(&mine[i], static_cast<unsigned long long>(local[i]));
  }
}

}  // namespace

const char* levelCountsName(CudaLevelCounts counts) { return counts == CudaLevelCounts::Warp ? "warp" : "shared"; }

void launchLevelCountsWarp(const DeviceBatch& batch, unsigned long long* counts, unsigned blocks, cudaStream_t stream) {
  levelCountsWarpKernel<<<dim3(blocks, batch.count), kLevelCountsWarpThreads, 0, stream>>>(batch, counts);
  FLWNET_CUDA_CHECK_LAUNCH("levelCountsWarpKernel");
}

}  // namespace flwnet::cuda
