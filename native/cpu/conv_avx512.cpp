// AVX-512 kernel: the 16 output channels of a pixel are one zmm register. Each weight vector is
// loaded once and applied to a block of pixels, each pixel's input value broadcast from memory.
#include <immintrin.h>

#include "conv_kernels.h"
#include "core/error.h"
#include "output_row.h"

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

// Sums of the 16 lanes of four vectors, in lanes 0, 4, 8 and 12 of the result: two levels of
// 128-bit block shuffles, then two in-block swaps. (The zero-masking forms with a full mask are
// the same instructions; GCC 12's unmasked wrappers raise false uninitialized warnings.)
static inline __m512 sumLanes4(__m512 a, __m512 b, __m512 c, __m512 d) {
  constexpr __mmask16 kAll = 0xFFFF;
  // Blocks [a0+a2, a1+a3, b0+b2, b1+b3], then [a, b, c, d] with four partial sums each.
  const __m512 ab = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(kAll, a, b, 0x44),
                                  _mm512_maskz_shuffle_f32x4(kAll, a, b, 0xEE));
  const __m512 cd = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(kAll, c, d, 0x44),
                                  _mm512_maskz_shuffle_f32x4(kAll, c, d, 0xEE));
  __m512 s = _mm512_add_ps(_mm512_maskz_shuffle_f32x4(kAll, ab, cd, 0x88),
                           _mm512_maskz_shuffle_f32x4(kAll, ab, cd, 0xDD));
  s = _mm512_add_ps(s, _mm512_maskz_permute_ps(kAll, s, 0x4E));
  return _mm512_add_ps(s, _mm512_maskz_permute_ps(kAll, s, 0xB1));
}

// N pixels (1..4) of the narrow kernel; a short block pads its sums with zero vectors.
template <int N>
static inline void narrowBlock(const ConvRowArgs& args, int x0) {
  constexpr int kRowInputs = 3 * kLanes;
  const ConvSource& src = args.sources[0];
  __m512 acc[kNarrowOutputs][4];
  for (int co = 0; co < kNarrowOutputs; ++co) {
    for (int p = 0; p < 4; ++p) acc[co][p] = _mm512_setzero_ps();
  }
  for (int ky = 0; ky < 3; ++ky) {
    const float* in = src.rows[ky] + static_cast<long>(x0 - 1) * kLanes;
    __m512 window[N + 2];  // pixels x0 - 1 .. x0 + N, each 16 channels
    for (int i = 0; i < N + 2; ++i) window[i] = _mm512_loadu_ps(in + i * kLanes);
    for (int co = 0; co < kNarrowOutputs; ++co) {
      for (int kx = 0; kx < 3; ++kx) {
        const __m512 w = _mm512_loadu_ps(args.weights + (co * 3 + ky) * kRowInputs + kx * kLanes);
        for (int p = 0; p < N; ++p) acc[co][p] = _mm512_fmadd_ps(window[p + kx], w, acc[co][p]);
      }
    }
  }
  for (int co = 0; co < kNarrowOutputs; ++co) {
    alignas(64) float sums[kLanes];
    _mm512_store_ps(sums, sumLanes4(acc[co][0], acc[co][1], acc[co][2], acc[co][3]));
    for (int p = 0; p < N; ++p) args.out[static_cast<long>(x0 + p) * kLanes + co] = args.bias[co] + sums[4 * p];
  }
}

void convRowNarrowAvx512(const ConvRowArgs& args) {
  int x = 0;
  for (; x + 4 <= args.count; x += 4) narrowBlock<4>(args, x);
  for (; x < args.count; ++x) narrowBlock<1>(args, x);
}

void convRowAvx512(const ConvRowArgs& args) {
  // e7 goes through the narrow kernel, so the direct kernel always computes 16 outputs.
  FLWNET_CHECK(args.outputLanes == kLanes, "the AVX-512 direct kernel computes 16 outputs");
  constexpr int kBlock = 12;  // 12 accumulators + weights fit the 32 registers with room to spare
  int x = 0;
  for (; x + kBlock <= args.count; x += kBlock) convBlock512<kBlock>(args, x);
  for (; x + 4 <= args.count; x += 4) convBlock512<4>(args, x);
  for (; x < args.count; ++x) convBlock512<1>(args, x);
}

void finishRowAvx512(const FinishRowArgs& args) { output_row::finishRow(args); }

}  // namespace flwnet::cpu
