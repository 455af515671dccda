#include "cuda/fused/global_branch.cuh"

#include <algorithm>

#include "cuda/runtime/cuda_check.h"
#include "cuda/mma/level_counts_warp.cuh"

namespace flwnet::cuda {
namespace {

constexpr int kCountThreads = 256;
constexpr int kCurveThreads = 256;  // one thread per V level
constexpr double kLeakySlopeF64 = 0.01;

// Per-block shared-memory histogram over a grid-stride slice of one image, merged into the
// image's global counts once at the end. gridDim.y indexes the batch image.
__global__ void __launch_bounds__(kCountThreads) levelCountsKernel(DeviceBatch batch, unsigned long long* counts) {
  __shared__ unsigned int local[kLevels];
  const DeviceImage img = batch.image[blockIdx.y];
  for (int i = threadIdx.x; i < kLevels; i += blockDim.x) local[i] = 0;
  __syncthreads();
  const size_t pixels = static_cast<size_t>(img.width) * static_cast<size_t>(img.height);
  const size_t stride = static_cast<size_t>(gridDim.x) * blockDim.x;
  for (size_t p = static_cast<size_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < pixels; p += stride) {
    const uint8_t* px = img.pixels + p * img.channels;
    const unsigned int v = max(max(px[0], px[1]), px[2]);
    atomicAdd(&local[v], 1u);
  }
  __syncthreads();
  unsigned long long* mine = counts + static_cast<size_t>(blockIdx.y) * kLevels;
  for (int i = threadIdx.x; i < kLevels; i += blockDim.x) {
    if (local[i] != 0) atomicAdd(&mine[i], static_cast<unsigned long long>(local[i]));
  }
}

// numpy.histogram's bin for V level `level` with 12 bins over [vminLevel, vmaxLevel] / 255, in
// IEEE double with explicit round-to-nearest operations so nvcc cannot contract them into FMAs
// (the CPU twin rounds each operation separately). -1 for levels outside the range.
__device__ int histogramBin(int level, int vminLevel, int vmaxLevel) {
  if (level < vminLevel || level > vmaxLevel) return -1;
  double lo = __ddiv_rn(static_cast<double>(vminLevel), 255.0);
  double hi = __ddiv_rn(static_cast<double>(vmaxLevel), 255.0);
  if (vminLevel == vmaxLevel) {
    lo = __dsub_rn(lo, 0.5);
    hi = __dadd_rn(hi, 0.5);
  }
  const double v = __ddiv_rn(static_cast<double>(level), 255.0);
  if (v == hi) return kHistBins - 1;
  const double step = __ddiv_rn(__dsub_rn(hi, lo), static_cast<double>(kHistBins));
  for (int i = 0; i < kHistBins; ++i) {
    const double upper = (i + 1 == kHistBins) ? hi : __dadd_rn(__dmul_rn(static_cast<double>(i + 1), step), lo);
    if (v < upper) return i;  // edges increase, so the first upper edge above v closes v's bin
  }
  return kHistBins - 1;
}

// One dense layer of the GFE with LeakyReLU, thread j computing output j.
__device__ void denseLayer(const float* weight, const float* bias, int cin, int cout, const double* in, double* out) {
  const int j = threadIdx.x;
  if (j < cout) {
    double acc = static_cast<double>(bias[j]);
    for (int k = 0; k < cin; ++k) acc += static_cast<double>(weight[j * cin + k]) * in[k];
    out[j] = acc > 0.0 ? acc : kLeakySlopeF64 * acc;
  }
  __syncthreads();
}

__device__ void bucketLevels(const unsigned long long* counts, const DeviceImage& img, double exposure, double* features) {
  __shared__ int vminLevel;
  __shared__ int vmaxLevel;
  __shared__ int binOfLevel[kLevels];
  const int t = threadIdx.x;
  if (t == 0) {
    int lo = kLevels - 1;
    int hi = 0;
    for (int level = 0; level < kLevels; ++level) {
      if (counts[level] != 0) {
        lo = min(lo, level);
        hi = max(hi, level);
      }
    }
    vminLevel = lo;
    vmaxLevel = hi;
  }
  __syncthreads();
  binOfLevel[t] = histogramBin(t, vminLevel, vmaxLevel);
  __syncthreads();
  if (t < kHistBins) {
    unsigned long long inBin = 0;
    for (int level = 0; level < kLevels; ++level) inBin += binOfLevel[level] == t ? counts[level] : 0ull;
    const double pixels = static_cast<double>(img.width) * static_cast<double>(img.height);
    features[t] = __ddiv_rn(static_cast<double>(inBin), pixels);
  }
  if (t == kHistBins) features[12] = __ddiv_rn(static_cast<double>(vminLevel), 255.0);
  if (t == kHistBins + 1) features[13] = __ddiv_rn(static_cast<double>(vmaxLevel), 255.0);
  if (t == kHistBins + 2) features[14] = exposure;
  __syncthreads();
}

// One block per image. The GFE's 1,431 parameters are read straight from global memory: the
// kernel runs once per image on a few dozen values, so staging them is not worth it.
__global__ void __launch_bounds__(kCurveThreads) featuresAndCurveKernel(GlobalBranchParams p) {
  __shared__ unsigned long long counts[kLevels];
  __shared__ double features[kFeatureCount];
  __shared__ double g1[16], g2[16], g3in[31], g4[16], curve[kCurveCount];
  const int b = blockIdx.x;
  const int t = threadIdx.x;
  counts[t] = p.out.levelCounts[static_cast<size_t>(b) * kLevels + t];
  __syncthreads();
  bucketLevels(counts, p.batch.image[b], p.batch.exposure[b], features);

  const float* w = p.denseWeights;
  denseLayer(w, w + 240, 15, 16, features, g1);
  w += 256;
  denseLayer(w, w + 256, 16, 16, g1, g3in);  // g2 lands in the first 16 values of g3's input
  w += 272;
  if (t < kFeatureCount) g3in[16 + t] = features[t];
  __syncthreads();
  denseLayer(w, w + 496, 31, 16, g3in, g2);  // g2 now holds g3
  w += 512;
  denseLayer(w, w + 256, 16, 16, g2, g4);
  w += 272;
  denseLayer(w, w + 112, 16, 7, g4, curve);

  if (t < kFeatureCount) p.out.features[b * kFeatureCount + t] = features[t];
  if (t < kCurveCount) p.out.curve[b * kCurveCount + t] = curve[t];
  double r = __ddiv_rn(static_cast<double>(t), 255.0);
  for (int i = 0; i < kCurveCount; ++i) r = r + curve[i] * (r - r * r);
  p.out.retouch[static_cast<size_t>(b) * kLevels + t] = static_cast<float>(r);
}

}  // namespace

void launchLevelCounts(const GlobalBranchParams& params, int multiprocessors, cudaStream_t stream) {
  const DeviceBatch& batch = params.batch;
  FLWNET_CHECK(batch.count >= 1 && batch.count <= kMaxBatch, "global branch batch size out of range");
  size_t largest = 1;
  for (int i = 0; i < batch.count; ++i) {
    largest = std::max(largest, static_cast<size_t>(batch.image[i].width) * batch.image[i].height);
  }
  // About four blocks per SM in total, but no block with fewer than ~8 pixels per thread.
  const size_t wanted = std::max<size_t>(1, static_cast<size_t>(multiprocessors) * 4 / batch.count);
  const size_t useful = (largest + kCountThreads * 8 - 1) / (kCountThreads * 8);
  const unsigned blocks = static_cast<unsigned>(std::max<size_t>(1, std::min(wanted, useful)));
  FLWNET_CUDA_CHECK(cudaMemsetAsync(params.out.levelCounts, 0,
                                    sizeof(unsigned long long) * kLevels * batch.count, stream));
  if (params.levelCounts == CudaLevelCounts::Warp) {  // BackendOptions::cudaLevelCounts
    static_assert(kLevelCountsWarpThreads == kCountThreads, "both kernels are sized by the same block count");
    launchLevelCountsWarp(batch, params.out.levelCounts, blocks, stream);
    return;
  }
  levelCountsKernel<<<dim3(blocks, batch.count), kCountThreads, 0, stream>>>(batch, params.out.levelCounts);
  FLWNET_CUDA_CHECK_LAUNCH("levelCountsKernel");
}

void launchFeaturesAndCurve(const GlobalBranchParams& params, cudaStream_t stream) {
  FLWNET_CHECK(params.batch.count >= 1 && params.batch.count <= kMaxBatch, "global branch batch size out of range");
  featuresAndCurveKernel<<<params.batch.count, kCurveThreads, 0, stream>>>(params);
  FLWNET_CUDA_CHECK_LAUNCH("featuresAndCurveKernel");
}

void launchGlobalBranch(const GlobalBranchParams& params, int multiprocessors, cudaStream_t stream) {
  launchLevelCounts(params, multiprocessors, stream);
  launchFeaturesAndCurve(params, stream);
}

}  // namespace flwnet::cuda
