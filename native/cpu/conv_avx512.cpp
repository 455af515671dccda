// AVX-512 kernel: the 16 output channels of a pixel are one zmm register. Each weight vector is
// loaded once and applied to a block of pixels, each pixel's input value broadcast from memory.
#include <immintrin.h>

#include "conv_kernels.h"

namespace flwnet::cpu {

template <int N>
static inline void convBlock512(const ConvRowArgs& args, int x0) {
  __m512 acc[N];
  const __m512 bias = _mm512_loadu_ps(args.bias);
  for (int p = 0; p < N; ++p) acc[p] = bias;
  const float* w = args.weights;
  for (int s = 0; s < args.sourceCount; ++s) {
    const ConvSource& src = args.sources[s];
    const int channels = src.channels;
    for (int ky = 0; ky < 3; ++ky) {
      for (int kx = 0; kx < 3; ++kx) {
        const float* in = src.rows[ky] + static_cast<long>(x0 + (kx - 1) * args.dilation) * channels;
        for (int ci = 0; ci < channels; ++ci, w += kLanes) {
          const __m512 wv = _mm512_loadu_ps(w);
          for (int p = 0; p < N; ++p) acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(in[p * channels + ci]), wv, acc[p]);
        }
      }
    }
  }
  const __m512 slope = _mm512_set1_ps(0.01f);
  const __m512 zero = _mm512_setzero_ps();
  for (int p = 0; p < N; ++p) {
    __m512 v = acc[p];
    if (args.leaky) v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_NGT_UQ), v, slope);
    _mm512_storeu_ps(args.out + static_cast<long>(x0 + p) * kLanes, v);
  }
}

// The same for a layer with at most 8 outputs (e7): one ymm per pixel, so twice the pixels per
// instruction's worth of useful work compared with padding to 16 lanes.
template <int N>
static inline void convBlockHalf(const ConvRowArgs& args, int x0) {
  __m256 acc[N];
  const __m256 bias = _mm256_loadu_ps(args.bias);
  for (int p = 0; p < N; ++p) acc[p] = bias;
  const float* w = args.weights;
  for (int s = 0; s < args.sourceCount; ++s) {
    const ConvSource& src = args.sources[s];
    const int channels = src.channels;
    for (int ky = 0; ky < 3; ++ky) {
      for (int kx = 0; kx < 3; ++kx) {
        const float* in = src.rows[ky] + static_cast<long>(x0 + (kx - 1) * args.dilation) * channels;
        for (int ci = 0; ci < channels; ++ci, w += kLanes) {
          const __m256 wv = _mm256_loadu_ps(w);
          for (int p = 0; p < N; ++p) acc[p] = _mm256_fmadd_ps(_mm256_set1_ps(in[p * channels + ci]), wv, acc[p]);
        }
      }
    }
  }
  const __m256 slope = _mm256_set1_ps(0.01f);
  const __m256 zero = _mm256_setzero_ps();
  for (int p = 0; p < N; ++p) {
    __m256 v = acc[p];
    if (args.leaky) v = _mm256_mask_mul_ps(v, _mm256_cmp_ps_mask(v, zero, _CMP_NGT_UQ), v, slope);
    _mm256_storeu_ps(args.out + static_cast<long>(x0 + p) * kLanes, v);
  }
}

void convRowAvx512(const ConvRowArgs& args) {
  if (args.outputLanes <= 8) {
    int x = 0;
    for (; x + 12 <= args.count; x += 12) convBlockHalf<12>(args, x);
    for (; x < args.count; ++x) convBlockHalf<1>(args, x);
    return;
  }
  constexpr int kBlock = 12;  // 12 accumulators + weights fit the 32 registers with room to spare
  int x = 0;
  for (; x + kBlock <= args.count; x += kBlock) convBlock512<kBlock>(args, x);
  for (; x + 4 <= args.count; x += 4) convBlock512<4>(args, x);
  for (; x < args.count; ++x) convBlock512<1>(args, x);
}

}  // namespace flwnet::cpu
