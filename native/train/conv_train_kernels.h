// The training convolutions: forward, input gradient and weight gradient of a 3x3 convolution
// (any dilation, zero padding) on pixel-major tensors with zero borders, for one band of rows.
// Every output pixel holds 16 channels, one 16-wide vector (GCC vector extension: one zmm register
// with AVX-512, two ymm with AVX2, four xmm otherwise), so the same loops are compiled once per
// instruction set (conv_train_generic.cpp, _avx2.cpp, _avx512.cpp) and picked at run time.
//
// Layouts (see train_tensors.h): a tensor of C channels stores pixel (x, y) at
// base + (y * rowStride + x) * C, with a zero border of kTrainPad pixels on every side so that
// taps past the image read zeros. Weights are pre-arranged per layer input:
//   forward  [tap][c][16 outputs]     (outputs past cout are zero)
//   backward [tap][16 outputs][16 c]  (the input gradient of a 16-channel input)
//   gradient [tap][c][16 outputs]     (what the weight-gradient kernel accumulates)
#pragma once
#include <cstddef>

#include "train/train_kernels.h"

// The 16-wide vectors never cross a non-inlined call boundary, so the ABI note is moot.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace flwnet::train {
namespace {

// Pixels per register block: their accumulators plus a weight vector must fit the register file
// (32 zmm registers with AVX-512; 16 ymm, i.e. 8 16-wide vectors, otherwise).
#ifndef FLWNET_TRAIN_PIXEL_BLOCK
#define FLWNET_TRAIN_PIXEL_BLOCK 4
#endif
constexpr int kPixelBlock = FLWNET_TRAIN_PIXEL_BLOCK;

typedef float v16 __attribute__((vector_size(64), aligned(4)));

inline v16 load16(const float* p) {
  v16 v;
  __builtin_memcpy(&v, p, sizeof v);
  return v;
}
inline void store16(float* p, const v16& v) { __builtin_memcpy(p, &v, sizeof v); }
inline v16 splat(float x) { return v16{x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }

// acc[i] += sum over taps t and channels c < count of src[i * cs + offs[t] + c] * w[(t * cs + c) * 16 ..],
// for PX consecutive pixels (pixel stride cs floats).
// Only the first `count` channels of each pixel are read (the rest are known to be zero).
template <int PX>
inline void accumulateTaps(const float* __restrict src, int cs, int count, const ptrdiff_t* offs,
                           const float* __restrict w, v16* acc) {
  for (int t = 0; t < 9; ++t) {
    const float* s = src + offs[t];
    const float* wt = w + static_cast<ptrdiff_t>(t) * cs * 16;
    for (int c = 0; c < count; ++c) {
      const v16 wv = load16(wt + c * 16);
      for (int i = 0; i < PX; ++i) acc[i] += splat(s[i * cs + c]) * wv;
    }
  }
}

// One row of a layer's forward: out[x] = act(bias + sum over inputs of taps).
template <int PX>
inline void forwardPixels(const ConvRowArgs& a, int x, v16* acc) {
  const v16 b = load16(a.bias);
  for (int i = 0; i < PX; ++i) acc[i] = b;
  for (int k = 0; k < a.inputCount; ++k) {
    const ConvRowInput& in = a.inputs[k];
    accumulateTaps<PX>(in.row + static_cast<ptrdiff_t>(x) * in.channels, in.channels, in.channels, in.offsets, in.weights,
                      acc);
  }
}

void convForwardRowImpl(const ConvRowArgs& a) {
  const v16 slope = splat(a.leakySlope);
  auto finish = [&](const v16& sum, float* out) {
    v16 v = sum;
    if (a.leaky) v = v > 0.0f ? v : v * slope;
    store16(out, v);
  };
  int x = 0;
  for (; x + kPixelBlock <= a.width; x += kPixelBlock) {
    v16 acc[kPixelBlock];
    forwardPixels<kPixelBlock>(a, x, acc);
    for (int i = 0; i < kPixelBlock; ++i) finish(acc[i], a.out + static_cast<ptrdiff_t>(x + i) * 16);
  }
  for (; x < a.width; ++x) {
    v16 acc[1];
    forwardPixels<1>(a, x, acc);
    finish(acc[0], a.out + static_cast<ptrdiff_t>(x) * 16);
  }
}

// One row of an input gradient: dIn[x] (+)= sum over taps of dZ[x - off] * Wb (16 channels).
void convInputGradRowImpl(const InputGradRowArgs& a) {
  const v16 slope = splat(a.leakySlope);
  auto finish = [&](const v16& sum, ptrdiff_t x) {
    v16 v = sum;
    float* out = a.out + x * 16;
    if (a.accumulate) v += load16(out);
    if (a.act != nullptr) v = load16(a.act + x * 16) > 0.0f ? v : v * slope;
    store16(out, v);
  };
  int x = 0;
  for (; x + kPixelBlock <= a.width; x += kPixelBlock) {
    v16 acc[kPixelBlock] = {};
    accumulateTaps<kPixelBlock>(a.dz + static_cast<ptrdiff_t>(x) * 16, 16, a.dzChannels, a.offsets, a.weights, acc);
    for (int i = 0; i < kPixelBlock; ++i) finish(acc[i], x + i);
  }
  for (; x < a.width; ++x) {
    v16 acc[1] = {};
    accumulateTaps<1>(a.dz + static_cast<ptrdiff_t>(x) * 16, 16, a.dzChannels, a.offsets, a.weights, acc);
    finish(acc[0], x);
  }
}

// Weight gradient over a band: grad[t][c][16] += sum over pixels of src[p + off[t]][c] * dZ[p].
// Row by row (a row of dZ and the rows it meets stay in L1), up to eight channels at a time in
// registers while the row is walked.
template <int CB>
inline void weightGradRowBlock(const WeightGradArgs& a, const float* dz, const float* s, float* grad) {
  v16 acc[CB];
  for (int c = 0; c < CB; ++c) acc[c] = load16(grad + c * 16);
  for (int x = 0; x < a.width; ++x) {
    const v16 d = load16(dz + static_cast<ptrdiff_t>(x) * 16);
    const float* sx = s + static_cast<ptrdiff_t>(x) * a.channels;
    for (int c = 0; c < CB; ++c) acc[c] += splat(sx[c]) * d;
  }
  for (int c = 0; c < CB; ++c) store16(grad + c * 16, acc[c]);
}

void convWeightGradImpl(const WeightGradArgs& a) {
  for (int y = 0; y < a.rows; ++y) {
    const float* dz = a.dz + static_cast<ptrdiff_t>(y) * a.dzRowStride;
    for (int t = 0; t < 9; ++t) {
      const float* s = a.src + static_cast<ptrdiff_t>(y) * a.srcRowStride + a.offsets[t];
      float* g = a.grad + static_cast<ptrdiff_t>(t) * a.channels * 16;
      int c0 = 0;
      for (; c0 + 8 <= a.channels; c0 += 8) weightGradRowBlock<8>(a, dz, s + c0, g + c0 * 16);
      switch (a.channels - c0) {
        case 0: break;
        case 1: weightGradRowBlock<1>(a, dz, s + c0, g + c0 * 16); break;
        case 2: weightGradRowBlock<2>(a, dz, s + c0, g + c0 * 16); break;
        case 3: weightGradRowBlock<3>(a, dz, s + c0, g + c0 * 16); break;
        case 4: weightGradRowBlock<4>(a, dz, s + c0, g + c0 * 16); break;
        case 5: weightGradRowBlock<5>(a, dz, s + c0, g + c0 * 16); break;
        case 6: weightGradRowBlock<6>(a, dz, s + c0, g + c0 * 16); break;
        default: weightGradRowBlock<7>(a, dz, s + c0, g + c0 * 16); break;
      }
    }
  }
}

}  // namespace
}  // namespace flwnet::train

// Defines the kernel table `name` from the loops above (one per instruction set).
#define FLWNET_DEFINE_TRAIN_KERNELS(name)                                                     \
  const TrainKernels name = {convForwardRowImpl, convInputGradRowImpl, convWeightGradImpl};
