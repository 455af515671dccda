#include "cudnn_kernels.cuh"

#include <cuda_fp16.h>

#include <algorithm>

#include "core/model.h"
#include "cuda/runtime/cuda_check.h"

namespace flwnet::cudnn {

namespace {

constexpr int kThreads = 256;
constexpr int kHidden = 16;             // channels of x1..x6
constexpr int kConcatLocalChannel = 16; // where [x, r] start inside e3's input
constexpr size_t kMaxBlocks = size_t(1) << 20;

int blocksFor(size_t work) {
  return static_cast<int>(std::max<size_t>(1, std::min(kMaxBlocks, (work + kThreads - 1) / kThreads)));
}

template <typename T>
__device__ inline float loadFloat(const T* p);
template <>
__device__ inline float loadFloat<float>(const float* p) { return *p; }
template <>
__device__ inline float loadFloat<__half>(const __half* p) { return __half2float(*p); }

template <typename T>
__device__ inline void storeFloat(T* p, float v);
template <>
__device__ inline void storeFloat<float>(float* p, float v) { *p = v; }
template <>
__device__ inline void storeFloat<__half>(__half* p, float v) { *p = __float2half_rn(v); }

// Offset of (image, channel, y, x) in a dense tensor of `channels` x rows x width per image.
template <Layout L>
__device__ inline size_t offsetOf(size_t image, int channel, int y, int x, int channels, int rows, int width) {
  if constexpr (L == Layout::NCHW) {
    return ((image * channels + channel) * rows + y) * static_cast<size_t>(width) + x;
  } else {
    return ((image * rows + y) * static_cast<size_t>(width) + x) * channels + channel;
  }
}

__device__ inline int maxLevel(const uint8_t* px) { return max(max(px[0], px[1]), px[2]); }

// One axis of the half-pixel-centre bilinear resampling of docs/numerics.md §5, in double so the
// weights keep full precision for coordinates up to the largest images.
struct Taps {
  int lo;
  int hi;
  double t;
};
__device__ inline Taps tapsFor(int n, double coordinate) {
  const double c = coordinate < 0.0 ? 0.0 : coordinate;
  Taps taps;
  taps.lo = min(static_cast<int>(floor(c)), n - 1);
  taps.hi = min(taps.lo + 1, n - 1);
  taps.t = taps.lo == n - 1 ? 0.0 : c - taps.lo;
  return taps;
}
// Same expressions as the CPU engine's bilinearTap, so both compute bit-identical weights.
__device__ inline Taps downTaps(int d, int n) { return tapsFor(n, (d + 0.5) * kCoarseScale - 0.5); }
__device__ inline Taps upTaps(int d, int n) { return tapsFor(n, (d + 0.5) * (1.0 / kCoarseScale) - 0.5); }

__global__ void coarseGridKernel(CoarseGridParams p) {
  const size_t cells = static_cast<size_t>(p.coarseHeight) * p.coarseWidth;
  const size_t total = cells * p.images.count;
  const ImagesU8& im = p.images;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t image = i / cells;
    const int cy = static_cast<int>((i % cells) / p.coarseWidth);
    const int cx = static_cast<int>(i % p.coarseWidth);
    const Taps ty = downTaps(cy, im.height);
    const Taps tx = downTaps(cx, im.width);
    const uint8_t* base = im.data + image * im.height * size_t(im.width) * im.channels;
    auto v = [&](int y, int x) { return maxLevel(base + (size_t(y) * im.width + x) * im.channels) / 255.0; };
    const double top = (1.0 - tx.t) * v(ty.lo, tx.lo) + tx.t * v(ty.lo, tx.hi);
    const double bottom = (1.0 - tx.t) * v(ty.hi, tx.lo) + tx.t * v(ty.hi, tx.hi);
    p.grid[i] = (1.0 - ty.t) * top + ty.t * bottom;
  }
}

// The coarse brightness Vc at image pixel (y, x): the grid up-sampled by 20 (docs/numerics.md §5).
__device__ inline double coarseAt(const double* grid, int gh, int gw, int y, int x) {
  const Taps ty = upTaps(y, gh);
  const Taps tx = upTaps(x, gw);
  const double top = (1.0 - tx.t) * grid[ty.lo * gw + tx.lo] + tx.t * grid[ty.lo * gw + tx.hi];
  const double bottom = (1.0 - tx.t) * grid[ty.hi * gw + tx.lo] + tx.t * grid[ty.hi * gw + tx.hi];
  return (1.0 - ty.t) * top + ty.t * bottom;
}

template <Layout L, typename T>
__global__ void prepareKernel(PrepareParams p) {
  const ImagesU8& im = p.images;
  const size_t bandPixels = static_cast<size_t>(p.rows) * im.width;
  const size_t total = bandPixels * im.count;
  T* e1 = static_cast<T*>(p.e1Input.data);
  T* e3 = static_cast<T*>(p.e3Input.data);
  const int c1 = p.e1Input.channels;
  const int c3 = p.e3Input.channels;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t image = i / bandPixels;
    const int y = static_cast<int>((i % bandPixels) / im.width);
    const int x = static_cast<int>(i % im.width);
    const int imageY = p.rowStart + y;
    const uint8_t* px = im.data + ((image * im.height + imageY) * im.width + x) * im.channels;
    const float rgb[3] = {px[0] / 255.0f, px[1] / 255.0f, px[2] / 255.0f};
    const float r = p.retouch[image * kLevels + maxLevel(px)];
    const double* grid = p.grid + image * p.coarseHeight * size_t(p.coarseWidth);
    const float halfVc = static_cast<float>(0.5 * coarseAt(grid, p.coarseHeight, p.coarseWidth, imageY, x));
    for (int c = 0; c < 3; ++c) storeFloat(e1 + offsetOf<L>(image, c, y, x, c1, p.rows, im.width), rgb[c] - halfVc);
    storeFloat(e1 + offsetOf<L>(image, 3, y, x, c1, p.rows, im.width), halfVc);
    for (int c = 4; c < c1; ++c) storeFloat(e1 + offsetOf<L>(image, c, y, x, c1, p.rows, im.width), 0.0f);
    for (int c = 0; c < 3; ++c) {
      storeFloat(e3 + offsetOf<L>(image, kConcatLocalChannel + c, y, x, c3, p.rows, im.width), rgb[c]);
    }
    storeFloat(e3 + offsetOf<L>(image, kConcatLocalChannel + 3, y, x, c3, p.rows, im.width), r);
    for (int c = kConcatLocalChannel + 4; c < c3; ++c) {
      storeFloat(e3 + offsetOf<L>(image, c, y, x, c3, p.rows, im.width), 0.0f);
    }
  }
}

template <Layout L, typename T>
__global__ void biasLeakyKernel(BiasLeakyParams p) {
  const size_t plane = static_cast<size_t>(p.rows) * p.width;
  const size_t total = plane * p.count;
  const T* src = static_cast<const T*>(p.src);
  T* first = static_cast<T*>(p.first.data);
  T* second = static_cast<T*>(p.second.data);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t image = i / plane;
    const int y = static_cast<int>((i % plane) / p.width);
    const int x = static_cast<int>(i % p.width);
#pragma unroll
    for (int c = 0; c < kHidden; ++c) {
      float v = loadFloat(src + offsetOf<L>(image, c, y, x, kHidden, p.rows, p.width));
      if (p.bias != nullptr) v += p.bias[c];
      v = v > 0.0f ? v : kLeakySlope * v;
      storeFloat(first + offsetOf<L>(image, p.first.firstChannel + c, y, x, p.first.channels, p.rows, p.width), v);
      if (second != nullptr) {
        storeFloat(second + offsetOf<L>(image, p.second.firstChannel + c, y, x, p.second.channels, p.rows, p.width),
                   v);
      }
    }
  }
}

// docs/numerics.md §6: softplus(x) = x above 20, log(1 + exp(x)) otherwise.
__device__ inline float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

template <Layout L, typename T>
__global__ void finishKernel(FinishParams p) {
  const ImagesU8& im = p.images;
  const size_t plane = static_cast<size_t>(p.outRows) * im.width;
  const size_t total = plane * im.count;
  const T* src = static_cast<const T*>(p.src);
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t image = i / plane;
    const int y = static_cast<int>((i % plane) / im.width);
    const int x = static_cast<int>(i % im.width);
    const size_t outIndex = i * im.channels;  // the output is packed like `i` itself
    for (int c = 0; c < 3; ++c) {
      float v = loadFloat(src + offsetOf<L>(image, c, p.skipRows + y, x, p.srcChannels, p.rows, im.width));
      if (p.bias != nullptr) v += p.bias[c];
      const float out = softplus(v);
      if (p.floatOutput) {
        static_cast<float*>(p.out)[outIndex + c] = out;
      } else {
        const float scaled = fminf(fmaxf(out * 255.0f + 0.5f, 0.0f), 255.0f);
        static_cast<uint8_t*>(p.out)[outIndex + c] = static_cast<uint8_t>(floorf(scaled));
      }
    }
    if (im.channels == 4) {
      const uint8_t alpha = im.data[((image * im.height + p.outRowStart + y) * im.width + x) * 4 + 3];
      if (p.floatOutput) {
        static_cast<float*>(p.out)[outIndex + 3] = alpha / 255.0f;
      } else {
        static_cast<uint8_t*>(p.out)[outIndex + 3] = alpha;
      }
    }
  }
}

// Launches the instantiation of Kernel for the layout and element type chosen at run time.
template <template <Layout, typename> class Kernel, typename Params>
void launchTyped(const Params& p, size_t work, cudaStream_t stream) {
  const int blocks = blocksFor(work);
  if (p.layout == Layout::NCHW && p.element == Element::Float) {
    Kernel<Layout::NCHW, float>::launch(p, blocks, stream);
  } else if (p.layout == Layout::NHWC && p.element == Element::Half) {
    Kernel<Layout::NHWC, __half>::launch(p, blocks, stream);
  } else if (p.layout == Layout::NCHW) {
    Kernel<Layout::NCHW, __half>::launch(p, blocks, stream);
  } else {
    Kernel<Layout::NHWC, float>::launch(p, blocks, stream);
  }
}

template <Layout L, typename T>
struct PrepareLaunch {
  static void launch(const PrepareParams& p, int blocks, cudaStream_t s) {
    prepareKernel<L, T><<<blocks, kThreads, 0, s>>>(p);
  }
};
template <Layout L, typename T>
struct BiasLeakyLaunch {
  static void launch(const BiasLeakyParams& p, int blocks, cudaStream_t s) {
    biasLeakyKernel<L, T><<<blocks, kThreads, 0, s>>>(p);
  }
};
template <Layout L, typename T>
struct FinishLaunch {
  static void launch(const FinishParams& p, int blocks, cudaStream_t s) {
    finishKernel<L, T><<<blocks, kThreads, 0, s>>>(p);
  }
};

}  // namespace

void launchCoarseGrid(const CoarseGridParams& p, cudaStream_t stream) {
  const size_t cells = static_cast<size_t>(p.coarseHeight) * p.coarseWidth * p.images.count;
  coarseGridKernel<<<blocksFor(cells), kThreads, 0, stream>>>(p);
  FLWNET_CUDA_CHECK_LAUNCH("coarseGridKernel");
}

void launchPrepare(const PrepareParams& p, cudaStream_t stream) {
  launchTyped<PrepareLaunch>(p, static_cast<size_t>(p.rows) * p.images.width * p.images.count, stream);
  FLWNET_CUDA_CHECK_LAUNCH("prepareKernel");
}

void launchBiasLeaky(const BiasLeakyParams& p, cudaStream_t stream) {
  launchTyped<BiasLeakyLaunch>(p, static_cast<size_t>(p.rows) * p.width * p.count, stream);
  FLWNET_CUDA_CHECK_LAUNCH("biasLeakyKernel");
}

void launchFinish(const FinishParams& p, cudaStream_t stream) {
  launchTyped<FinishLaunch>(p, static_cast<size_t>(p.outRows) * p.images.width * p.images.count, stream);
  FLWNET_CUDA_CHECK_LAUNCH("finishKernel");
}

}  // namespace flwnet::cudnn
