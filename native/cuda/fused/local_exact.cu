// Precision::Exact local branch: fp32 FMA throughout, one 16x16 output tile per block.
//
// Shared memory holds three 34x34 frames (tile + 9-pixel halo) of 16 fp32 channels = 216 KiB, so
// one block per SM with 256 threads. Each layer is computed only over the part of the frame where
// it is valid (x1 32x32, x2 30x30, x3 28x28, x4 24x24, x5 20x20, x6 18x18, out 16x16), so the work
// per output pixel is 34,7k multiply-adds against the network's 15,840: 2.19x recompute for halos.
// (32x32 tiles would cut that to 1.5x but need 2.2x the shared memory in fp32.)
//
// Frames are stored channel-quad-major ([4-channel chunk][pixel][4]) so the float4 loads of
// consecutive pixels by consecutive threads hit distinct banks; weights are read with uniform
// float4 loads through the read-only cache (a broadcast, ~9 KiB per layer stays in L1).
#include <cuda_runtime.h>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/fused/local_common.cuh"
#include "cuda/fused/local_exact.cuh"
#include "cuda/fused/local_schedules.h"

namespace flwnet::cuda::local {
namespace {

constexpr int kTile = kExactTile;
constexpr int kFrame = kTile + 2 * kHalo;           // 34
constexpr int kFramePixels = kFrame * kFrame;        // 1156
constexpr int kPlane = kFramePixels * 4;             // floats in one 4-channel chunk plane
constexpr int kFrameFloats = kPlane * 4;             // 16 channels
constexpr int kThreads = 256;

// One input of a convolution: `chunks` 4-channel planes of a frame starting at `firstChunk`, with
// the weights of those channels laid out [tap][cin][cout].
struct Source {
  const float* frame;
  int firstChunk;
  const float* weights;
};

__device__ __forceinline__ float component(const float4& v, int c) {
  return c == 0 ? v.x : c == 1 ? v.y : c == 2 ? v.z : v.w;
}

template <int P, int CIN, int COUT>
__device__ __forceinline__ void accumulate(float (&acc)[P][COUT], const int (&q)[P], const Source& s, int dilation) {
#pragma unroll 1
  for (int tap = 0; tap < 9; ++tap) {
    const int offset = ((tap / 3 - 1) * kFrame + (tap % 3 - 1)) * dilation;
    const float* w = s.weights + tap * CIN * COUT;
#pragma unroll
    for (int c4 = 0; c4 < CIN / 4; ++c4) {
      const float* plane = s.frame + (s.firstChunk + c4) * kPlane;
      float4 a[P];
#pragma unroll
      for (int j = 0; j < P; ++j) a[j] = reinterpret_cast<const float4*>(plane)[q[j] + offset];
#pragma unroll
      for (int cc = 0; cc < 4; ++cc) {
#pragma unroll
        for (int o4 = 0; o4 < COUT / 4; ++o4) {
          const float4 wv = __ldg(reinterpret_cast<const float4*>(w + (4 * c4 + cc) * COUT) + o4);
#pragma unroll
          for (int j = 0; j < P; ++j) {
            const float av = component(a[j], cc);
            acc[j][4 * o4 + 0] = fmaf(av, wv.x, acc[j][4 * o4 + 0]);
            acc[j][4 * o4 + 1] = fmaf(av, wv.y, acc[j][4 * o4 + 1]);
            acc[j][4 * o4 + 2] = fmaf(av, wv.z, acc[j][4 * o4 + 2]);
            acc[j][4 * o4 + 3] = fmaf(av, wv.w, acc[j][4 * o4 + 3]);
          }
        }
      }
    }
  }
}

// What one layer reads and where its result goes. FINAL layers (e7) write image pixels.
struct LayerSite {
  const LocalParams* params;
  TileSite tile;
  int validFrom;  // output valid from this distance to the frame edge
  int dilation;
  const float* bias;
  float* dst;     // destination frame (non-final layers)
};

template <int P, int CIN_A, int CIN_B, int COUT, bool FINAL>
__device__ void convGroup(const LayerSite& site, int base, const Source& a, const Source& b) {
  const int side = kFrame - 2 * site.validFrom;
  const int count = side * side;
  int q[P];
  bool valid[P];
#pragma unroll
  for (int j = 0; j < P; ++j) {
    int i = base + j * kThreads + static_cast<int>(threadIdx.x);
    valid[j] = i < count;
    i = valid[j] ? i : count - 1;  // idle lanes repeat a real pixel rather than branch
    q[j] = (site.validFrom + i / side) * kFrame + site.validFrom + i % side;
  }
  float acc[P][COUT];
#pragma unroll
  for (int j = 0; j < P; ++j)
#pragma unroll
    for (int o = 0; o < COUT; ++o) acc[j][o] = site.bias[o];
  accumulate<P, CIN_A, COUT>(acc, q, a, site.dilation);
  if constexpr (CIN_B > 0) accumulate<P, CIN_B, COUT>(acc, q, b, site.dilation);

  const LocalParams& p = *site.params;
  const DeviceImage& img = p.batch.image[site.tile.image];
#pragma unroll
  for (int j = 0; j < P; ++j) {
    if (!valid[j]) continue;
    const int gx = site.tile.x0 - kHalo + q[j] % kFrame;
    const int gy = site.tile.y0 - kHalo + q[j] / kFrame;
    const bool inside = insideImage(img, gx, gy);
    if constexpr (FINAL) {
      const LocalImage& li = p.images[site.tile.image];
      if (!inside || gy >= li.bandBegin + li.bandRows) continue;
      const float y[3] = {softplus(acc[j][0]), softplus(acc[j][1]), softplus(acc[j][2])};
      writeOutputPixel(p, site.tile.image, gx, gy, y);
    } else {
      // Zero padding: activations outside the image are 0 for every layer, not e_k of padded input.
#pragma unroll
      for (int o4 = 0; o4 < COUT / 4; ++o4) {
        float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        if (inside) {
          v = make_float4(leakyRelu(acc[j][4 * o4]), leakyRelu(acc[j][4 * o4 + 1]), leakyRelu(acc[j][4 * o4 + 2]),
                          leakyRelu(acc[j][4 * o4 + 3]));
        }
        reinterpret_cast<float4*>(site.dst + o4 * kPlane)[q[j]] = v;
      }
    }
  }
}

// One layer over its whole valid region, in groups of up to 4 pixels per thread.
template <int CIN_A, int CIN_B, int COUT, bool FINAL>
__device__ void convLayer(const LayerSite& site, const Source& a, const Source& b) {
  const int side = kFrame - 2 * site.validFrom;
  const int count = side * side;
  for (int base = 0; base < count; base += 4 * kThreads) {
    const int perThread = min(4, (count - base + kThreads - 1) / kThreads);
    switch (perThread) {
      case 1: convGroup<1, CIN_A, CIN_B, COUT, FINAL>(site, base, a, b); break;
      case 2: convGroup<2, CIN_A, CIN_B, COUT, FINAL>(site, base, a, b); break;
      case 3: convGroup<3, CIN_A, CIN_B, COUT, FINAL>(site, base, a, b); break;
      default: convGroup<4, CIN_A, CIN_B, COUT, FINAL>(site, base, a, b); break;
    }
  }
  __syncthreads();
}

// Chunk 0 of the staging frame: e1's input [x - Vc/2, Vc/2]; chunk 1: e3's extra input [x, r].
__device__ void stageTile(const LocalParams& p, const TileSite& tile, float* staging) {
  const DeviceImage& img = p.batch.image[tile.image];
  const LocalImage& li = p.images[tile.image];
  for (int i = threadIdx.x; i < kFramePixels; i += kThreads) {
    const int gx = tile.x0 - kHalo + i % kFrame;
    const int gy = tile.y0 - kHalo + i / kFrame;
    float4 e1 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 e3 = e1;
    if (insideImage(img, gx, gy)) {
      const PixelInputs in = pixelInputs(img, li, gx, gy);
      e1 = make_float4(in.e1[0], in.e1[1], in.e1[2], in.e1[3]);
      e3 = make_float4(in.e3[0], in.e3[1], in.e3[2], in.e3[3]);
    }
    reinterpret_cast<float4*>(staging)[i] = e1;
    reinterpret_cast<float4*>(staging + kPlane)[i] = e3;
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads, 1) localExactKernel(LocalParams p) {
  extern __shared__ float4 sharedFrames[];
  float* staging = reinterpret_cast<float*>(sharedFrames);  // later x5
  float* frameA = staging + kFrameFloats;                    // x1, then x3
  float* frameB = frameA + kFrameFloats;                     // x2, x4, then x6
  const TileSite tile = locateTile(p, kTile, kTile);
  const float* w = static_cast<const float*>(p.weights);
  const float* bias = p.biases;
  stageTile(p, tile, staging);

  const Source none{nullptr, 0, nullptr};
  // The frames each layer reads and writes are kFrameSchedule's (local_schedules.h).
  convLayer<4, 0, 16, false>(LayerSite{&p, tile, 1, kDilationOf<0>, bias + 0, frameA}, Source{staging, 0, w + kExactW1},
                             none);
  convLayer<16, 0, 16, false>(LayerSite{&p, tile, 2, kDilationOf<1>, bias + 16, frameB},
                              Source{frameA, 0, w + kExactW2}, none);
  convLayer<16, 4, 16, false>(LayerSite{&p, tile, 3, kDilationOf<2>, bias + 32, frameA},
                              Source{frameB, 0, w + kExactW3a}, Source{staging, 1, w + kExactW3b});
  convLayer<16, 0, 16, false>(LayerSite{&p, tile, 5, kDilationOf<3>, bias + 48, frameB},
                              Source{frameA, 0, w + kExactW4}, none);
  convLayer<16, 0, 16, false>(LayerSite{&p, tile, 7, kDilationOf<4>, bias + 64, staging},
                              Source{frameB, 0, w + kExactW5}, none);
  convLayer<16, 16, 16, false>(LayerSite{&p, tile, 8, kDilationOf<5>, bias + 80, frameB},
                               Source{frameA, 0, w + kExactW6a}, Source{staging, 0, w + kExactW6b});
  convLayer<16, 0, 4, true>(LayerSite{&p, tile, 9, kDilationOf<6>, bias + 96, nullptr}, Source{frameB, 0, w + kExactW7},
                            none);
}

}  // namespace

size_t exactSharedBytes() { return static_cast<size_t>(3) * kFrameFloats * sizeof(float); }

void launchLocalExact(const LocalParams& params, cudaStream_t stream) {
  const size_t smem = exactSharedBytes();
  FLWNET_CUDA_CHECK(cudaFuncSetAttribute(localExactKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
  localExactKernel<<<params.totalTiles, kThreads, smem, stream>>>(params);
  FLWNET_CUDA_CHECK_LAUNCH("localExactKernel");
}

}  // namespace flwnet::cuda::local
