// Precision::Fast local branch as a streaming implicit GEMM on mma.sync.m16n8k16 (fp16 x fp16 ->
// fp32). Schedule, ring layout, swizzle and fragment order: mma_layout.h (shared with the host
// emulation in test/native/mma_emulation.cpp, which runs this schedule on the CPU).
//
// A block owns a strip of 46 output columns (64 with halos) and a segment of rows, and walks down
// it 4 rows per step. Every layer keeps its output rows in a ring of channels-last fp16 rows
// (32 bytes a pixel) in shared memory; each step stages 4 input rows and then runs e1..e7, layer k
// trailing the input by its receptive field (lagOf), so every row it reads was written earlier.
// A layer's step is 16 M tiles (4 rows x 4 column tiles of 16 pixels), 2 per warp; each 3x3 conv
// of 16 ring channels into 16 outputs is 9 taps x (one ldmatrix.x4 of A + two mma of N = 8), K = 16
// channels per tap (K = 144 per group). A lane keeps the group's nine B fragments in registers
// (one 16-byte load per tap, packed in fragment order on the host), the bias is the accumulator's
// initial value, LeakyReLU and the zero padding are applied in the epilogue, which stores the
// accumulators as fp16 with stmatrix (sm_90) or 32-bit stores; e7 applies softplus and writes the
// image. The swizzle makes every 8-address phase of ldmatrix/stmatrix hit 32 distinct banks.
// Rings: 50 rows of 2 KiB = 100 KiB a block, two blocks (16 warps) per SM.
#include "cuda/mma/local_mma.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdint>
#include <limits>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/fused/local_common.cuh"
#include "cuda/mma/mma_layout.h"

namespace flwnet::cuda::fastmma {
namespace {

using mma::kColumnTiles;
using mma::kOutColumns;
using mma::kRowBytes;
using mma::kStepRows;
using mma::kThreads;
using mma::kTilesPerWarp;
using mma::kWarps;

constexpr int kRowsPerWarpStride = kWarps / kColumnTiles;  // a warp's tiles are this many rows apart

struct Step {
  const LocalParams* params;
  local::TileSite tile;  // image, first output column, first output row of the segment
  int segmentEnd;      // one past the segment's last output row
  int inputTop;        // first input row staged in this step
  uint32_t rings;      // shared-space address of the rings
};

__device__ __forceinline__ void ldmatrixX4(uint32_t (&r)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(address)
               : "memory");
}

__device__ __forceinline__ void mma16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t packHalf2(float lo, float hi) {
  const __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&h);
}

// Row of the step (0..kStepRows-1) of this warp's tile t, and the warp's column tile.
__device__ __forceinline__ int tileRow(int t) { return (threadIdx.x >> 5) / kColumnTiles + t * kRowsPerWarpStride; }
__device__ __forceinline__ int tileColumn() { return (threadIdx.x >> 5) % kColumnTiles; }

// Strip column whose row address this lane gives to ldmatrix/stmatrix, and which chunk.
__device__ __forceinline__ int addressColumn(int lane) {
  return tileColumn() * 16 + mma::tilePixelOfMatrixRow(mma::addressMatrix(lane), mma::addressRow(lane));
}

template <int J>
__device__ __forceinline__ uint32_t ringRowAddress(const Step& s, int y) {
  constexpr int kFirst = mma::ringFirstRowOf(J);
  constexpr int kDepth = mma::ringDepthOf(J);
  return s.rings + (kFirst + mma::wrapRow(y, kDepth)) * kRowBytes;
}

// acc += conv of weight group G over this warp's tiles of layer rows top.. (N halves: 1 or 2).
template <int G, int NHALVES>
__device__ __forceinline__ void accumulateGroup(float (&acc)[kTilesPerWarp][2][4], const Step& s, const uint4* weights,
                                                int top) {
  constexpr mma::WeightGroup kGroup = mma::kGroups[G];
  constexpr int kDilation = mma::dilationOf(kGroup.layer);
  const int lane = threadIdx.x & 31;
  uint4 b[9];
#pragma unroll
  for (int tap = 0; tap < 9; ++tap) b[tap] = __ldg(weights + (G * 9 + tap) * 32 + lane);
  // Column part of each kx's address (swizzle included); edge columns clamp: their results are
  // discarded (a row of D depends only on the same row of A).
  const int column = addressColumn(lane);
  const int chunk = mma::tileChunkOfMatrix(mma::addressMatrix(lane));
  uint32_t columnOffset[3];
#pragma unroll
  for (int kx = 0; kx < 3; ++kx) {
    const int c = min(max(column + (kx - 1) * kDilation, 0), mma::kStripColumns - 1);
    columnOffset[kx] = mma::chunkByteOffset(0, c, chunk);
  }
#pragma unroll
  for (int t = 0; t < kTilesPerWarp; ++t) {
    const int y = top + tileRow(t);
    uint32_t rowAddress[3];
#pragma unroll
    for (int ky = 0; ky < 3; ++ky) rowAddress[ky] = ringRowAddress<kGroup.ring>(s, y + (ky - 1) * kDilation);
#pragma unroll
    for (int tap = 0; tap < 9; ++tap) {
      uint32_t a[4];
      ldmatrixX4(a, rowAddress[tap / 3] + columnOffset[tap % 3]);
      mma16816(acc[t][0], a, b[tap].x, b[tap].y);
      if constexpr (NHALVES == 2) mma16816(acc[t][1], a, b[tap].z, b[tap].w);
    }
  }
}

// LeakyReLU, zero outside the image, fp16 into ring K.
template <int K>
__device__ __forceinline__ void storeActivations(const float (&acc)[kTilesPerWarp][2][4], const Step& s, int top) {
  const int lane = threadIdx.x & 31;
  const DeviceImage& img = s.params->batch.image[s.tile.image];
  const int g = mma::groupOf(lane);
#pragma unroll
  for (int t = 0; t < kTilesPerWarp; ++t) {
    const int y = top + tileRow(t);
    uint32_t packed[2][2];  // [N half = chunk][pixel g or g + 8]
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int gx = s.tile.x0 - mma::kHalo + tileColumn() * 16 + g + 8 * half;
      const bool inside = local::insideImage(img, gx, y);
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const float v0 = inside ? local::leakyRelu(acc[t][n][2 * half]) : 0.0f;
        const float v1 = inside ? local::leakyRelu(acc[t][n][2 * half + 1]) : 0.0f;
        packed[n][half] = packHalf2(v0, v1);
      }
    }
    const uint32_t row = ringRowAddress<K>(s, y);
#if __CUDA_ARCH__ >= 900
    // stmatrix registers in matrix order: (pixels 0-7, chunk 0), (8-15, 0), (0-7, 1), (8-15, 1).
    const uint32_t address =
        row + mma::chunkByteOffset(0, addressColumn(lane), mma::tileChunkOfMatrix(mma::addressMatrix(lane)));
    asm volatile("stmatrix.sync.aligned.m8n8.x4.shared.b16 [%0], {%1, %2, %3, %4};\n" ::"r"(address),
                 "r"(packed[0][0]), "r"(packed[0][1]), "r"(packed[1][0]), "r"(packed[1][1])
                 : "memory");
#else
#pragma unroll
    for (int n = 0; n < 2; ++n)
#pragma unroll
      for (int half = 0; half < 2; ++half) {
        const uint32_t address = row + mma::chunkByteOffset(0, tileColumn() * 16 + g + 8 * half, n) +
                                 4 * mma::threadInGroup(lane);
        asm volatile("st.shared.b32 [%0], %1;\n" ::"r"(address), "r"(packed[n][half]) : "memory");
      }
#endif
  }
}

// e7: softplus of channels 0..2 and the image write, for kept pixels of the segment.
__device__ __forceinline__ void storeImage(const float (&acc)[kTilesPerWarp][2][4], const Step& s, int top) {
  const int lane = threadIdx.x & 31;
  const DeviceImage& img = s.params->batch.image[s.tile.image];
  const int g = mma::groupOf(lane);
#pragma unroll
  for (int t = 0; t < kTilesPerWarp; ++t) {
    const int y = top + tileRow(t);
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      // Channels 2 t4, 2 t4 + 1 sit in lane (g, t4): channel 2 comes from the next lane.
      const float c2 = __shfl_down_sync(0xffffffffu, acc[t][0][2 * half], 1);
      const int column = tileColumn() * 16 + g + 8 * half;
      const int gx = s.tile.x0 - mma::kHalo + column;
      if (mma::threadInGroup(lane) != 0 || column < mma::kHalo || column >= mma::kHalo + kOutColumns) continue;
      if (y < s.tile.y0 || y >= s.segmentEnd || !local::insideImage(img, gx, y)) continue;
      const float rgb[3] = {local::softplus(acc[t][0][2 * half]), local::softplus(acc[t][0][2 * half + 1]),
                            local::softplus(c2)};
      local::writeOutputPixel(*s.params, s.tile.image, gx, y, rgb);
    }
  }
}

// Whether any of layer K's rows in this step is read by the segment's outputs.
template <int K>
__device__ __forceinline__ bool rowsNeeded(const Step& s) {
  constexpr int kLag = mma::lagOf(K);
  const int top = s.inputTop - kLag;
  const int margin = mma::kHalo - kLag;
  return top + kStepRows - 1 >= s.tile.y0 - margin && top <= s.segmentEnd - 1 + margin;
}

// Layer K's kStepRows rows of this step, then a barrier (but after e7).
template <int K>
__device__ void layerStep(const Step& s, const uint4* weights) {
  constexpr int kFirst = mma::firstGroupOf(K);
  constexpr int kHalves = K == mma::kLayers ? 1 : 2;  // e7: 6 outputs, one N = 8 half
  if (rowsNeeded<K>(s)) {
    constexpr int kLag = mma::lagOf(K);
    const int top = s.inputTop - kLag;
    const int t4 = threadIdx.x & 3;
    const float* bias = s.params->biases + (K - 1) * 16;
    float acc[kTilesPerWarp][2][4];
#pragma unroll
    for (int t = 0; t < kTilesPerWarp; ++t)
#pragma unroll
      for (int n = 0; n < 2; ++n) {
        const float b0 = __ldg(bias + n * 8 + 2 * t4), b1 = __ldg(bias + n * 8 + 2 * t4 + 1);
        acc[t][n][0] = b0;
        acc[t][n][1] = b1;
        acc[t][n][2] = b0;
        acc[t][n][3] = b1;
      }
    accumulateGroup<kFirst, kHalves>(acc, s, weights, top);
    if constexpr (mma::groupCountOf(K) > 1) accumulateGroup<kFirst + 1, kHalves>(acc, s, weights, top);
    if constexpr (K == mma::kLayers) {
      storeImage(acc, s, top);
    } else {
      storeActivations<K>(acc, s, top);
    }
  }
  if constexpr (K != mma::kLayers) __syncthreads();
}

// The step's kStepRows input rows into ring 0: chunk 0 = [x - Vc/2, Vc/2, x, r], chunk 1 = 0.
__device__ void stageRows(const Step& s, unsigned char* rings) {
  static_assert(kStepRows * mma::kStripColumns == kThreads, "staging is one pixel per thread");
  const LocalParams& p = *s.params;
  const DeviceImage& img = p.batch.image[s.tile.image];
  const int gy = s.inputTop + static_cast<int>(threadIdx.x) / mma::kStripColumns;
  const int column = static_cast<int>(threadIdx.x) % mma::kStripColumns;
  const int gx = s.tile.x0 - mma::kHalo + column;
  uint4 inputs = make_uint4(0, 0, 0, 0);
  if (local::insideImage(img, gx, gy)) {
    const local::PixelInputs in = local::pixelInputs(img, p.images[s.tile.image], gx, gy);
    inputs = make_uint4(packHalf2(in.e1[0], in.e1[1]), packHalf2(in.e1[2], in.e1[3]), packHalf2(in.e3[0], in.e3[1]),
                        packHalf2(in.e3[2], in.e3[3]));
  }
  const int ringRow = mma::ringFirstRowOf(0) + mma::wrapRow(gy, mma::ringDepthOf(0));
  *reinterpret_cast<uint4*>(rings + mma::chunkByteOffset(ringRow, column, 0)) = inputs;
  *reinterpret_cast<uint4*>(rings + mma::chunkByteOffset(ringRow, column, 1)) = make_uint4(0, 0, 0, 0);
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads, 2) localMmaKernel(LocalParams p, const uint4* weights, int segmentRows) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) unsigned char rings[];
  // Rows never written before they are first read (above the segment's first step) must hold
  // finite values: start from zeros.
  for (int i = threadIdx.x; i < mma::kSharedBytes / 16; i += kThreads) {
    reinterpret_cast<uint4*>(rings)[i] = make_uint4(0, 0, 0, 0);
  }
  __syncthreads();
  Step s{&p, local::locateTile(p, segmentRows, kOutColumns), 0, 0,
         static_cast<uint32_t>(__cvta_generic_to_shared(rings))};
  const LocalImage& li = p.images[s.tile.image];
  s.segmentEnd = min(s.tile.y0 + segmentRows, li.bandBegin + li.bandRows);
  for (s.inputTop = s.tile.y0 - mma::kHalo; s.inputTop - mma::lagOf(mma::kLayers) < s.segmentEnd;
       s.inputTop += kStepRows) {
    if (rowsNeeded<0>(s)) stageRows(s, rings);
    layerStep<1>(s, weights);
    layerStep<2>(s, weights);
    layerStep<3>(s, weights);
    layerStep<4>(s, weights);
    layerStep<5>(s, weights);
    layerStep<6>(s, weights);
    layerStep<7>(s, weights);
  }
#endif
}

// Segment height minimising (waves of blocks) x (steps per block).
int chooseSegmentRows(const LocalParams& params, int concurrentBlocks) {
  int tallest = 1;
  for (int b = 0; b < params.batch.count; ++b) tallest = std::max(tallest, params.images[b].bandRows);
  int best = kStepRows;
  long long bestCost = std::numeric_limits<long long>::max();
  for (int rows = kStepRows; rows < tallest + kStepRows; rows += kStepRows) {
    long long blocks = 0;
    for (int b = 0; b < params.batch.count; ++b) {
      const long long strips = (params.batch.image[b].width + kOutColumns - 1) / kOutColumns;
      blocks += strips * ((params.images[b].bandRows + rows - 1) / rows);
    }
    const long long waves = (blocks + concurrentBlocks - 1) / concurrentBlocks;
    const long long cost = waves * ((rows + 2 * mma::kHalo + kStepRows - 1) / kStepRows);
    if (cost <= bestCost) {
      bestCost = cost;
      best = rows;
    }
  }
  return best;
}

}  // namespace

bool localMmaSupported() {
  int device = 0, major = 0;
  FLWNET_CUDA_CHECK(cudaGetDevice(&device));
  FLWNET_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 8;
}

size_t localMmaSharedBytes() { return static_cast<size_t>(mma::kSharedBytes); }

void launchLocalMma(LocalParams& params, const void* weights, cudaStream_t stream) {
  FLWNET_CHECK(reinterpret_cast<uintptr_t>(weights) % 16 == 0, "mma weights must be 16-byte aligned");
  const size_t smem = localMmaSharedBytes();
  FLWNET_CUDA_CHECK(
      cudaFuncSetAttribute(localMmaKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  int device = 0, sms = 1, perSm = 1;
  FLWNET_CUDA_CHECK(cudaGetDevice(&device));
  FLWNET_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  FLWNET_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, localMmaKernel, kThreads, smem));
  const int segmentRows = chooseSegmentRows(params, std::max(1, sms * perSm));
  assignTiles(params, kOutColumns, segmentRows);
  localMmaKernel<<<params.totalTiles, kThreads, smem, stream>>>(params, static_cast<const uint4*>(weights),
                                                                 segmentRows);
  FLWNET_CUDA_CHECK_LAUNCH("localMmaKernel");
}

}  // namespace flwnet::cuda::fastmma
