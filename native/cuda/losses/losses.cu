// CUDA evaluation of the losses and metrics (docs/numerics.md §8): the same per-pixel formulas as
// the CPU (core/losses_formulas.h), float64 throughout, block partials reduced in a fixed order.
#include <cfloat>
#include <cstdint>

#include "core/error.h"
#include "core/losses.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/runtime/device_memory.h"
#include "cuda/losses/losses.cuh"

namespace flwnet::cuda::lossgpu {
namespace {

using losses::kSsimRadius;
using losses::kSsimTaps;

constexpr int kThreads = kTileWidth * kTileHeight;
constexpr int kWarps = kThreads / 32;
constexpr int kHaloWidth = kTileWidth + 2 * kSsimRadius;
constexpr int kHaloHeight = kTileHeight + 2 * kSsimRadius;
constexpr int kReduceThreads = 256;

__device__ double sampleAt(const LossImageView& image, size_t pixel, int channel) {
  const size_t index = pixel * image.channels + channel;
  return image.isFloat ? static_cast<double>(static_cast<const float*>(image.data)[index])
                       : static_cast<const uint8_t*>(image.data)[index] / 255.0;
}

// Shared memory of one tile: one channel of both images with the window's halo (zeros outside
// the image), the horizontally filtered moments, and one value per warp and accumulator for the reduction.
struct TileShared {
  double e[kHaloHeight][kHaloWidth];
  double y[kHaloHeight][kHaloWidth];
  double rows[5][kHaloHeight][kTileWidth];
  double warpValues[kAccumulatorCount][kWarps];
};

// Sums (or takes the minimum of) `value` over the warp; lane 0 stores it for the block reduction.
__device__ void warpPut(TileShared& s, int accumulator, double value, bool minimum) {
  for (int offset = 16; offset > 0; offset >>= 1) {
    const double other = __shfl_down_sync(0xffffffffu, value, offset);
    value = minimum ? fmin(value, other) : value + other;
  }
  if ((threadIdx.x & 31) == 0) s.warpValues[accumulator][threadIdx.x >> 5] = value;
}

// SSIM map of this thread's pixel summed over the three channels (0 outside the image).
__device__ double tileSsim(TileShared& s, const LossImageView& e, const LossImageView& y, int width, int height,
                           const SsimTaps& taps, int x0, int y0, bool inside) {
  double total = 0.0;
  for (int c = 0; c < 3; ++c) {
    for (int i = threadIdx.x; i < kHaloWidth * kHaloHeight; i += kThreads) {
      const int hx = i % kHaloWidth, hy = i / kHaloWidth;
      const int gx = x0 + hx - kSsimRadius, gy = y0 + hy - kSsimRadius;
      const bool valid = gx >= 0 && gx < width && gy >= 0 && gy < height;
      const size_t pixel = static_cast<size_t>(gy) * width + gx;
      s.e[hy][hx] = valid ? sampleAt(e, pixel, c) : 0.0;
      s.y[hy][hx] = valid ? sampleAt(y, pixel, c) : 0.0;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < kHaloHeight * kTileWidth; i += kThreads) {
      const int tx = i % kTileWidth, hy = i / kTileWidth;
      double m[5] = {0, 0, 0, 0, 0};
      for (int k = 0; k < kSsimTaps; ++k) {
        const double ev = s.e[hy][tx + k], yv = s.y[hy][tx + k], w = taps.w[k];
        m[0] += w * ev;
        m[1] += w * yv;
        m[2] += w * ev * ev;
        m[3] += w * yv * yv;
        m[4] += w * ev * yv;
      }
      for (int q = 0; q < 5; ++q) s.rows[q][hy][tx] = m[q];
    }
    __syncthreads();
    const int tx = threadIdx.x % kTileWidth, ty = threadIdx.x / kTileWidth;
    double m[5] = {0, 0, 0, 0, 0};
    for (int k = 0; k < kSsimTaps; ++k)
      for (int q = 0; q < 5; ++q) m[q] += taps.w[k] * s.rows[q][ty + k][tx];
    if (inside) total += losses::ssimFromMoments(m[0], m[1], m[2], m[3], m[4]);
    __syncthreads();  // the next channel overwrites the tile
  }
  return total;
}

// The consistency moments of one channel pair at this pixel (zeros and +max outside the image).
__device__ void putMoments(TileShared& s, int sumAt, int minAt, double a, double b, bool inside) {
  warpPut(s, sumAt + 0, inside ? a : 0.0, false);
  warpPut(s, sumAt + 1, inside ? b : 0.0, false);
  warpPut(s, sumAt + 2, inside ? a * a : 0.0, false);
  warpPut(s, sumAt + 3, inside ? b * b : 0.0, false);
  warpPut(s, sumAt + 4, inside ? a * b : 0.0, false);
  warpPut(s, minAt + 0, inside ? a : DBL_MAX, true);
  warpPut(s, minAt + 1, inside ? b : DBL_MAX, true);
}

__device__ void pixelTerms(TileShared& s, const LossImageView& e, const LossImageView& y, int width, int height, int px,
                           int py, bool inside) {
  const size_t pixel = inside ? static_cast<size_t>(py) * width + px : 0;
  double ev[3], yv[3];
  for (int c = 0; c < 3; ++c) {
    ev[c] = sampleAt(e, pixel, c);
    yv[c] = sampleAt(y, pixel, c);
  }
  double absError = 0, squaredError = 0, dot = 0, ee = 0, yy = 0;
  for (int c = 0; c < 3; ++c) {
    const double d = ev[c] - yv[c];
    absError += fabs(d);
    squaredError += d * d;
    dot += ev[c] * yv[c];
    ee += ev[c] * ev[c];
    yy += yv[c] * yv[c];
  }
  const double cosine = losses::clampCosine((dot / 3.0) / (sqrt(ee / 3.0) * sqrt(yy / 3.0) + losses::kCosineEps));
  warpPut(s, kAbsError, inside ? absError : 0.0, false);
  warpPut(s, kSquaredError, inside ? squaredError : 0.0, false);
  warpPut(s, kColourOneMinus, inside ? 1.0 - cosine : 0.0, false);
  warpPut(s, kColourAcos, inside ? losses::polyAcos(cosine) : 0.0, false);
  for (int c = 0; c < 3; ++c)
    putMoments(s, kBrightnessMoments + c * kMomentsPerChannel, kBrightnessMinima + 2 * c, ev[c], yv[c], inside);

  // Structure: |I(x) - I(x+1)| and |I(y) - I(y+1)| with the neighbour past the edge taken as 0.
  const bool hasRight = px + 1 < width, hasBelow = py + 1 < height;
  for (int c = 0; c < 3; ++c) {
    const double eRight = inside && hasRight ? sampleAt(e, pixel + 1, c) : 0.0;
    const double yRight = inside && hasRight ? sampleAt(y, pixel + 1, c) : 0.0;
    const double eBelow = inside && hasBelow ? sampleAt(e, pixel + width, c) : 0.0;
    const double yBelow = inside && hasBelow ? sampleAt(y, pixel + width, c) : 0.0;
    putMoments(s, kStructureMoments + c * kMomentsPerChannel, kStructureMinima + 2 * c, fabs(ev[c] - eRight),
               fabs(yv[c] - yRight), inside);
    putMoments(s, kStructureMoments + (3 + c) * kMomentsPerChannel, kStructureMinima + 2 * (3 + c),
               fabs(ev[c] - eBelow), fabs(yv[c] - yBelow), inside);
  }

  const losses::Lab le = losses::linearRgbToLab(losses::srgbToLinear(ev[0]), losses::srgbToLinear(ev[1]),
                                                losses::srgbToLinear(ev[2]));
  const losses::Lab ly = losses::linearRgbToLab(losses::srgbToLinear(yv[0]), losses::srgbToLinear(yv[1]),
                                                losses::srgbToLinear(yv[2]));
  warpPut(s, kCiede2000Sum, inside ? losses::ciede2000(le, ly) : 0.0, false);
}

__global__ void __launch_bounds__(kThreads) lossTileKernel(LossImageView e, LossImageView y, int width, int height,
                                                           SsimTaps taps, double* partials) {
  __shared__ TileShared s;
  const int x0 = blockIdx.x * kTileWidth, y0 = blockIdx.y * kTileHeight;
  const int px = x0 + threadIdx.x % kTileWidth, py = y0 + threadIdx.x / kTileWidth;
  const bool inside = px < width && py < height;
  const double ssim = tileSsim(s, e, y, width, height, taps, x0, y0, inside);
  warpPut(s, kSsimSum, ssim, false);
  pixelTerms(s, e, y, width, height, px, py, inside);
  __syncthreads();
  const int blocks = gridDim.x * gridDim.y;
  const int block = blockIdx.y * gridDim.x + blockIdx.x;
  for (int accumulator = threadIdx.x; accumulator < kAccumulatorCount; accumulator += kThreads) {
    const bool minimum = accumulator >= kSumAccumulators;
    double value = s.warpValues[accumulator][0];
    for (int w = 1; w < kWarps; ++w) value = minimum ? fmin(value, s.warpValues[accumulator][w]) : value + s.warpValues[accumulator][w];
    partials[static_cast<size_t>(accumulator) * blocks + block] = value;
  }
}

// One block per accumulator: strided partial sums per thread, then a shared-memory tree; fixed order.
__global__ void __launch_bounds__(kReduceThreads) reduceAccumulatorsKernel(const double* partials, int blocks, double* out) {
  __shared__ double values[kReduceThreads];
  const int accumulator = blockIdx.x;
  const bool minimum = accumulator >= kSumAccumulators;
  const double* row = partials + static_cast<size_t>(accumulator) * blocks;
  double value = minimum ? DBL_MAX : 0.0;
  for (int i = threadIdx.x; i < blocks; i += kReduceThreads) value = minimum ? fmin(value, row[i]) : value + row[i];
  values[threadIdx.x] = value;
  __syncthreads();
  for (int stride = kReduceThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      const double other = values[threadIdx.x + stride];
      values[threadIdx.x] = minimum ? fmin(values[threadIdx.x], other) : values[threadIdx.x] + other;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) out[accumulator] = values[0];
}

}  // namespace

void launchLossTiles(LossImageView enhanced, LossImageView reference, int width, int height, const SsimTaps& taps,
                     double* partials, cudaStream_t stream) {
  const dim3 grid((width + kTileWidth - 1) / kTileWidth, (height + kTileHeight - 1) / kTileHeight);
  lossTileKernel<<<grid, kThreads, 0, stream>>>(enhanced, reference, width, height, taps, partials);
  FLWNET_CUDA_CHECK_LAUNCH("lossTileKernel");
}

void launchReduceAccumulators(const double* partials, int blocks, double* out, cudaStream_t stream) {
  reduceAccumulatorsKernel<<<kAccumulatorCount, kReduceThreads, 0, stream>>>(partials, blocks, out);
  FLWNET_CUDA_CHECK_LAUNCH("reduceAccumulatorsKernel");
}

}  // namespace flwnet::cuda::lossgpu

namespace flwnet::losses {
namespace {

using cuda::lossgpu::kAccumulatorCount;

// A stream owned for one evaluation (destroyed on every exit path).
class ScopedStream {
 public:
  ScopedStream() { FLWNET_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking)); }
  ~ScopedStream() { cudaStreamDestroy(stream_); }
  ScopedStream(const ScopedStream&) = delete;
  ScopedStream& operator=(const ScopedStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

size_t sampleBytes(const PixelView& view) { return view.samples() * (view.type == SampleType::F32 ? 4 : 1); }

LossSums sumsFromAccumulators(const double* accumulators) {
  using namespace cuda::lossgpu;
  LossSums sums;
  sums.absError = accumulators[kAbsError];
  sums.squaredError = accumulators[kSquaredError];
  sums.colourOneMinus = accumulators[kColourOneMinus];
  sums.colourAcos = accumulators[kColourAcos];
  sums.ssim = accumulators[kSsimSum];
  sums.ciede2000 = accumulators[kCiede2000Sum];
  auto fill = [&](ChannelMoments& m, int sumAt, int minAt) {
    m.sumA = accumulators[sumAt];
    m.sumB = accumulators[sumAt + 1];
    m.sumAA = accumulators[sumAt + 2];
    m.sumBB = accumulators[sumAt + 3];
    m.sumAB = accumulators[sumAt + 4];
    m.minA = accumulators[minAt];
    m.minB = accumulators[minAt + 1];
    m.seen = true;
  };
  for (int c = 0; c < kColourChannels; ++c)
    fill(sums.brightness[c], kBrightnessMoments + c * kMomentsPerChannel, kBrightnessMinima + 2 * c);
  for (int c = 0; c < kGradientChannels; ++c)
    fill(sums.structure[c], kStructureMoments + c * kMomentsPerChannel, kStructureMinima + 2 * c);
  return sums;
}

}  // namespace

LossReport evaluateCuda(const PixelView& enhanced, const PixelView& reference, int deviceIndex) {
  using namespace cuda::lossgpu;
  validatePair(enhanced, reference);
  FLWNET_CUDA_CHECK(cudaSetDevice(deviceIndex));
  ScopedStream stream;
  const int width = enhanced.width, height = enhanced.height;
  const int blocks = ((width + kTileWidth - 1) / kTileWidth) * ((height + kTileHeight - 1) / kTileHeight);
  const size_t eBytes = cuda::alignUp(sampleBytes(enhanced)), yBytes = cuda::alignUp(sampleBytes(reference));
  const size_t partialBytes = cuda::alignUp(sizeof(double) * kAccumulatorCount * static_cast<size_t>(blocks));
  cuda::DeviceMemory memory;
  memory.reserve(eBytes + yBytes + partialBytes + sizeof(double) * kAccumulatorCount);
  unsigned char* base = memory.data();
  double* partials = reinterpret_cast<double*>(base + eBytes + yBytes);
  double* accumulators = reinterpret_cast<double*>(base + eBytes + yBytes + partialBytes);

  FLWNET_CUDA_CHECK(cudaMemcpyAsync(base, enhanced.data, sampleBytes(enhanced), cudaMemcpyHostToDevice, stream.get()));
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(base + eBytes, reference.data, sampleBytes(reference), cudaMemcpyHostToDevice,
                                    stream.get()));
  SsimTaps taps;
  ssimGaussianTaps(taps.w);
  const LossImageView e{base, enhanced.type == SampleType::F32, enhanced.channels};
  const LossImageView y{base + eBytes, reference.type == SampleType::F32, reference.channels};
  launchLossTiles(e, y, width, height, taps, partials, stream.get());
  launchReduceAccumulators(partials, blocks, accumulators, stream.get());
  double host[kAccumulatorCount];
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(host, accumulators, sizeof host, cudaMemcpyDeviceToHost, stream.get()));
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  return finishLosses(sumsFromAccumulators(host), enhanced.pixels(), LossParts{});
}

}  // namespace flwnet::losses
