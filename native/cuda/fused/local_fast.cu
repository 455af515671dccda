// Precision::Fast local branch: every convolution as an implicit GEMM on fp16 tensor cores (WMMA
// 16x16x16, fp32 accumulation), activations kept in shared memory as fp16.
//
// A block computes a 28x28 output tile from a 46x46 frame (9-pixel halo). Frames hold 16 fp16
// channels per pixel, contiguous (32 bytes), so the A matrix of one tap for 16 consecutive frame
// pixels is a plain 16x16 row-major block at (pixel + tap offset): no im2col. M tiles run over
// the frame's linear pixel order across each layer's valid rows; the columns outside the valid
// region are computed and discarded (a row of D depends only on the same row of A, so garbage
// there cannot leak into kept pixels). Work per output pixel: 43.5k tensor multiply-adds (2.75x
// the network's 15,840: halo recompute 1.6x, discarded columns, and e1/e3's 4-channel inputs and
// e7's 6 outputs padded to 16). Shared memory: three frames (3 x 66.6 KiB) + 16 KiB of per-warp
// accumulator scratch = 216 KiB: one block of 16 warps per SM.
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <mma.h>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/fused/local_common.cuh"
#include "cuda/fused/local_fast.cuh"
#include "cuda/fused/local_schedules.h"

namespace flwnet::cuda::local {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kTile = kFastTile;
constexpr int kFrame = kTile + 2 * kHalo;           // 46
constexpr int kFramePixels = kFrame * kFrame;        // 2116
constexpr int kFrameSlots = kFramePixels + 16;       // slack for the last M tile's overrun
constexpr int kChannels = 16;
constexpr int kWarps = 16;
constexpr int kThreads = kWarps * 32;
constexpr size_t kFrameBytes = sizeof(__half) * kFrameSlots * kChannels;
constexpr size_t kScratchBytes = sizeof(float) * kWarps * 256;

struct FastSite {
  const LocalParams* params;
  TileSite tile;
  int validFrom;
  int dilation;
  const float* bias;  // 16 floats
  __half* dst;        // destination frame (non-final layers)
  float* scratch;     // this warp's 16x16 fp32 accumulator spill
};

// Whether frame pixel q holds a kept output of a layer valid from `h` (and is inside the image).
__device__ __forceinline__ bool keptPixel(const FastSite& s, int q, int last, int& gx, int& gy) {
  const int h = s.validFrom;
  const int fx = q % kFrame;
  gx = s.tile.x0 - kHalo + fx;
  gy = s.tile.y0 - kHalo + q / kFrame;
  return q <= last && fx >= h && fx < kFrame - h && insideImage(s.params->batch.image[s.tile.image], gx, gy);
}

__device__ void storeActivations(const FastSite& s, int q0, int last) {
  const int lane = threadIdx.x & 31;
#pragma unroll
  for (int e = 0; e < 8; ++e) {
    const int idx = lane + 32 * e;
    const int q = q0 + (idx >> 4);
    const int col = idx & 15;
    int gx, gy;
    // Zero padding: activations outside the image are 0 for every layer.
    const float v = keptPixel(s, q, last, gx, gy) ? leakyRelu(s.scratch[idx] + s.bias[col]) : 0.0f;
    s.dst[q * kChannels + col] = __float2half_rn(v);
  }
}

__device__ void storeImagePixels(const FastSite& s, int q0, int last) {
  const int lane = threadIdx.x & 31;
  if (lane >= 16) return;
  const int q = q0 + lane;
  int gx, gy;
  const LocalImage& li = s.params->images[s.tile.image];
  if (!keptPixel(s, q, last, gx, gy) || gy >= li.bandBegin + li.bandRows) return;
  const float* row = s.scratch + lane * 16;
  const float y[3] = {softplus(row[0] + s.bias[0]), softplus(row[1] + s.bias[1]), softplus(row[2] + s.bias[2])};
  writeOutputPixel(*s.params, s.tile.image, gx, gy, y);
}

// One layer: sources A (and B when CHUNKS == 2) are frames of 16 fp16 channels with nine weight
// blocks each.
template <int CHUNKS, bool FINAL>
__device__ void fastLayer(const FastSite& s, const __half* srcA, const __half* weightsA, const __half* srcB,
                          const __half* weightsB) {
  const int h = s.validFrom;
  const int first = h * kFrame + h;
  const int last = (kFrame - h - 1) * kFrame + (kFrame - h - 1);
  const int tiles = (last - first) / 16 + 1;
  for (int m = threadIdx.x >> 5; m < tiles; m += kWarps) {
    const int q0 = first + 16 * m;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll 3
    for (int tap = 0; tap < 9; ++tap) {
      const int offset = ((tap / 3 - 1) * kFrame + (tap % 3 - 1)) * s.dilation;
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> b;
      wmma::load_matrix_sync(a, srcA + (q0 + offset) * kChannels, kChannels);
      wmma::load_matrix_sync(b, weightsA + tap * kFastBlock, 16);
      wmma::mma_sync(acc, a, b, acc);
      if constexpr (CHUNKS == 2) {
        wmma::load_matrix_sync(a, srcB + (q0 + offset) * kChannels, kChannels);
        wmma::load_matrix_sync(b, weightsB + tap * kFastBlock, 16);
        wmma::mma_sync(acc, a, b, acc);
      }
    }
    wmma::store_matrix_sync(s.scratch, acc, 16, wmma::mem_row_major);
    __syncwarp();
    if constexpr (FINAL) {
      storeImagePixels(s, q0, last);
    } else {
      storeActivations(s, q0, last);
    }
    __syncwarp();
  }
  __syncthreads();
}

// Staging frame channels: 0..3 e1's input [x - Vc/2, Vc/2], 4..7 e3's [x, r], 8..15 zero. The
// slack after the frame is zeroed in all three frames so overrun reads stay finite.
__device__ void stageTile(const LocalParams& p, const TileSite& tile, __half* staging, __half* frameA, __half* frameB) {
  const DeviceImage& img = p.batch.image[tile.image];
  const LocalImage& li = p.images[tile.image];
  for (int i = threadIdx.x; i < kFrameSlots; i += kThreads) {
    const int gx = tile.x0 - kHalo + i % kFrame;
    const int gy = tile.y0 - kHalo + i / kFrame;
    __half2 v[8];
    for (int k = 0; k < 8; ++k) v[k] = __float2half2_rn(0.0f);
    if (i < kFramePixels && insideImage(img, gx, gy)) {
      const PixelInputs in = pixelInputs(img, li, gx, gy);
      v[0] = __floats2half2_rn(in.e1[0], in.e1[1]);
      v[1] = __floats2half2_rn(in.e1[2], in.e1[3]);
      v[2] = __floats2half2_rn(in.e3[0], in.e3[1]);
      v[3] = __floats2half2_rn(in.e3[2], in.e3[3]);
    }
    __half2* out = reinterpret_cast<__half2*>(staging + i * kChannels);
    for (int k = 0; k < 8; ++k) out[k] = v[k];
    if (i >= kFramePixels) {
      for (int k = 0; k < 8; ++k) {
        reinterpret_cast<__half2*>(frameA + i * kChannels)[k] = v[k];
        reinterpret_cast<__half2*>(frameB + i * kChannels)[k] = v[k];
      }
    }
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads, 1) localFastKernel(LocalParams p) {
  extern __shared__ __align__(128) unsigned char sharedBytes[];
  __half* staging = reinterpret_cast<__half*>(sharedBytes);  // later x5
  __half* frameA = staging + kFrameSlots * kChannels;        // x1, then x3
  __half* frameB = frameA + kFrameSlots * kChannels;         // x2, x4, then x6
  float* scratch = reinterpret_cast<float*>(sharedBytes + 3 * kFrameBytes) + (threadIdx.x >> 5) * 256;
  const TileSite tile = locateTile(p, kTile, kTile);
  const __half* w = static_cast<const __half*>(p.weights);
  const float* bias = p.biases;
  stageTile(p, tile, staging, frameA, frameB);

  auto site = [&](int validFrom, int dilation, int layer, __half* dst) {
    return FastSite{&p, tile, validFrom, dilation, bias + 16 * layer, dst, scratch};
  };
  auto block = [&](int group) { return w + group * kFastBlock; };
  // The frames each layer reads and writes are kFrameSchedule's (local_schedules.h).
  fastLayer<1, false>(site(1, kDilationOf<0>, 0, frameA), staging, block(kFastW1), nullptr, nullptr);
  fastLayer<1, false>(site(2, kDilationOf<1>, 1, frameB), frameA, block(kFastW2), nullptr, nullptr);
  fastLayer<2, false>(site(3, kDilationOf<2>, 2, frameA), frameB, block(kFastW3a), staging, block(kFastW3b));
  fastLayer<1, false>(site(5, kDilationOf<3>, 3, frameB), frameA, block(kFastW4), nullptr, nullptr);
  fastLayer<1, false>(site(7, kDilationOf<4>, 4, staging), frameB, block(kFastW5), nullptr, nullptr);
  fastLayer<2, false>(site(8, kDilationOf<5>, 5, frameB), frameA, block(kFastW6a), staging, block(kFastW6b));
  fastLayer<1, true>(site(9, kDilationOf<6>, 6, nullptr), frameB, block(kFastW7), nullptr, nullptr);
}

}  // namespace

size_t fastSharedBytes() { return 3 * kFrameBytes + kScratchBytes; }

void launchLocalFast(const LocalParams& params, cudaStream_t stream) {
  const size_t smem = fastSharedBytes();
  FLWNET_CUDA_CHECK(cudaFuncSetAttribute(localFastKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
  localFastKernel<<<params.totalTiles, kThreads, smem, stream>>>(params);
  FLWNET_CUDA_CHECK_LAUNCH("localFastKernel");
}

}  // namespace flwnet::cuda::local
