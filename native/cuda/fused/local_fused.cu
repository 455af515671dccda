// Host side of the local branch: the coarse-grid kernel, weight packing for both precisions and
// the launch of the fused kernel (local_exact.cu, local_fast.cu).
#include "cuda/fused/local_fused.cuh"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/fused/local_exact.cuh"
#include "cuda/fused/local_exact_stream.cuh"
#include "cuda/fused/local_fast.cuh"
#include "cuda/mma/local_mma.cuh"
#include "cuda/mma/mma_weights.h"

namespace flwnet::cuda {
namespace {

constexpr int kCoarseThreads = 128;

// Down-sampling tap (k = 20) with half-pixel centres, docs/numerics.md §5, in double.
struct DownTap {
  int i0;
  int i1;
  double t;
};
__device__ DownTap downsampleTap(int d, int n) {
  double c = (d + 0.5) * kCoarseScale - 0.5;
  c = c > 0.0 ? c : 0.0;
  int i0 = static_cast<int>(floor(c));
  i0 = i0 < n - 1 ? i0 : n - 1;
  const int i1 = i0 + 1 < n - 1 ? i0 + 1 : n - 1;
  return DownTap{i0, i1, i0 == n - 1 ? 0.0 : c - i0};
}

__device__ double levelAt(const DeviceImage& img, int x, int y) {
  const uint8_t* px = img.pixels + (static_cast<size_t>(y) * img.width + x) * img.channels;
  return max(max(px[0], px[1]), px[2]) / 255.0;
}

// gridDim.y indexes the image; each thread computes one coarse cell.
__global__ void __launch_bounds__(kCoarseThreads) coarseGridKernel(LocalParams p) {
  const int b = blockIdx.y;
  const DeviceImage img = p.batch.image[b];
  const LocalImage& li = p.images[b];
  const int cell = blockIdx.x * blockDim.x + threadIdx.x;
  if (cell >= li.cellsX * li.cellsY) return;
  const DownTap ty = downsampleTap(cell / li.cellsX, img.height);
  const DownTap tx = downsampleTap(cell % li.cellsX, img.width);
  const double top = (1.0 - tx.t) * levelAt(img, tx.i0, ty.i0) + tx.t * levelAt(img, tx.i1, ty.i0);
  const double bottom = (1.0 - tx.t) * levelAt(img, tx.i0, ty.i1) + tx.t * levelAt(img, tx.i1, ty.i1);
  li.coarse[cell] = static_cast<float>((1.0 - ty.t) * top + ty.t * bottom);
}

// PyTorch weight element [o][i][ky][kx] of conv layer `layer` (0-based).
float convWeight(const ModelWeights& w, int layer, int o, int i, int tap) {
  const ConvWeights& c = w.conv(layer);
  return c.weight[(o * c.spec.cin + i) * 9 + tap];
}

// Appends [tap][cin][cout] for input channels [cinBegin, cinBegin + cin) and outputs [0, cout).
void appendExactGroup(std::vector<float>& out, const ModelWeights& w, int layer, int cinBegin, int cin, int cout) {
  for (int tap = 0; tap < 9; ++tap)
    for (int i = 0; i < cin; ++i)
      for (int o = 0; o < cout; ++o) out.push_back(convWeight(w, layer, o, cinBegin + i, tap));
}

// Appends nine 16x16 fp16 blocks B[k][n]: row k takes input channel (k - kBegin + cinBegin) for
// k in [kBegin, kBegin + cin), output channels n < cout; everything else is zero.
void appendFastGroup(std::vector<__half>& out, const ModelWeights& w, int layer, int kBegin, int cinBegin, int cin,
                     int cout) {
  for (int tap = 0; tap < 9; ++tap)
    for (int k = 0; k < 16; ++k)
      for (int n = 0; n < 16; ++n) {
        const bool used = k >= kBegin && k < kBegin + cin && n < cout;
        out.push_back(__float2half_rn(used ? convWeight(w, layer, n, k - kBegin + cinBegin, tap) : 0.0f));
      }
}

template <typename T>
std::vector<uint8_t> asBytes(const std::vector<T>& values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return bytes;
}

}  // namespace

void launchCoarseGrid(const LocalParams& params, cudaStream_t stream) {
  int largest = 1;
  for (int b = 0; b < params.batch.count; ++b) {
    largest = std::max(largest, params.images[b].cellsX * params.images[b].cellsY);
  }
  const dim3 grid((largest + kCoarseThreads - 1) / kCoarseThreads, params.batch.count);
  coarseGridKernel<<<grid, kCoarseThreads, 0, stream>>>(params);
  FLWNET_CUDA_CHECK_LAUNCH("coarseGridKernel");
}

int localTileRows(Precision precision) { return precision == Precision::Exact ? local::kExactTile : local::kFastTile; }

// Stream is the default (BackendOptions): on an H100 it matched the tile kernel bit for bit and
// ran 1.9x faster.
const char* exactKernelName(ExactKernel kernel) { return kernel == ExactKernel::Stream ? "stream" : "tile"; }

const char* fastKernelName(FastKernel kernel) { return kernel == FastKernel::Mma ? "mma" : "wmma"; }

void assignTiles(LocalParams& params, int tileCols, int tileRows) {
  long long total = 0;
  for (int b = 0; b < params.batch.count; ++b) {
    LocalImage& li = params.images[b];
    li.tilesX = (params.batch.image[b].width + tileCols - 1) / tileCols;
    li.firstTile = static_cast<int>(total);
    total += static_cast<long long>(li.tilesX) * ((li.bandRows + tileRows - 1) / tileRows);
    if (total > std::numeric_limits<int>::max()) {
      FLWNET_THROW(ErrorCode::InvalidArgument, "image band too large for one launch");
    }
  }
  params.totalTiles = static_cast<int>(total);
}

void launchLocalFused(LocalParams& params, Precision precision, cudaStream_t stream, ExactKernel exactKernel,
                      FastKernel fastKernel) {
  FLWNET_CHECK(params.batch.count >= 1 && params.batch.count <= kMaxBatch, "local branch batch size out of range");
  if (precision == Precision::Exact && exactKernel == ExactKernel::Stream) {
    local::launchLocalExactStream(params, stream);
    return;
  }
  // The mma.sync kernel on sm_80+ (its weights follow the WMMA blocks); WMMA elsewhere.
  if (precision == Precision::Fast && fastKernel == FastKernel::Mma && fastmma::localMmaSupported()) {
    fastmma::launchLocalMma(params, static_cast<const __half*>(params.weights) + local::kFastBlockCount * local::kFastBlock,
                            stream);
    return;
  }
  const int tile = localTileRows(precision);
  assignTiles(params, tile, tile);
  if (precision == Precision::Exact) {
    local::launchLocalExact(params, stream);
  } else {
    local::launchLocalFast(params, stream);
  }
}

std::vector<uint8_t> packLocalWeights(const ModelWeights& w, Precision precision) {
  if (precision == Precision::Exact) {
    std::vector<float> out;
    out.reserve(local::kExactWeightCount);
    appendExactGroup(out, w, 0, 0, 4, 16);
    appendExactGroup(out, w, 1, 0, 16, 16);
    appendExactGroup(out, w, 2, 0, 16, 16);
    appendExactGroup(out, w, 2, 16, 4, 16);
    appendExactGroup(out, w, 3, 0, 16, 16);
    appendExactGroup(out, w, 4, 0, 16, 16);
    appendExactGroup(out, w, 5, 0, 16, 16);
    appendExactGroup(out, w, 5, 16, 16, 16);
    appendExactGroup(out, w, 6, 0, 16, 4);
    FLWNET_CHECK(out.size() == static_cast<size_t>(local::kExactWeightCount), "exact weight layout does not add up");
    return asBytes(out);
  }
  std::vector<__half> out;
  out.reserve(static_cast<size_t>(local::kFastBlockCount) * local::kFastBlock);
  appendFastGroup(out, w, 0, 0, 0, 4, 16);
  appendFastGroup(out, w, 1, 0, 0, 16, 16);
  appendFastGroup(out, w, 2, 0, 0, 16, 16);
  appendFastGroup(out, w, 2, 4, 16, 4, 16);  // staging channels 4..7 hold [x, r] = e3 inputs 16..19
  appendFastGroup(out, w, 3, 0, 0, 16, 16);
  appendFastGroup(out, w, 4, 0, 0, 16, 16);
  appendFastGroup(out, w, 5, 0, 0, 16, 16);
  appendFastGroup(out, w, 5, 0, 16, 16, 16);
  appendFastGroup(out, w, 6, 0, 0, 16, kOutputChannels);
  FLWNET_CHECK(out.size() == static_cast<size_t>(local::kFastBlockCount) * local::kFastBlock,
               "fast weight layout does not add up");
  const std::vector<uint16_t> fragments = mma::packMmaWeights(w);  // the mma kernel's B fragments
  for (const uint16_t bits : fragments) out.push_back(__ushort_as_half(bits));
  return asBytes(out);
}

std::vector<float> packLocalBiases(const ModelWeights& w) {
  std::vector<float> out(static_cast<size_t>(kConvLayers) * 16, 0.0f);
  for (int layer = 0; layer < kConvLayers; ++layer) {
    const ConvWeights& c = w.conv(layer);
    for (int o = 0; o < c.spec.cout; ++o) out[layer * 16 + o] = c.bias[o];
  }
  return out;
}

}  // namespace flwnet::cuda
