// AVX2 + FMA kernel: a pixel's 16 output channels are two ymm registers; blocks of 4 pixels use
// 8 accumulators. A layer with at most 8 outputs (e7) skips the upper half and takes blocks of 8
// pixels. Larger blocks would fit the 16 registers on paper, but GCC then spills accumulators
// inside the inner loop and runs at half the speed (measured: 1.2 vs 2.1 MPix/s on one core).
#include <immintrin.h>

#include "conv_kernels.h"
#include "core/error.h"
#include "output_row.h"

namespace flwnet::cpu {

// One source's 9 taps for a block of N pixels. The channel count is a template parameter so
// every pixel's input sits at a constant offset from one pointer; with a run-time stride the
// compiler needs a register per pixel and then spills the accumulators.
template <int N, int C>
static inline const float* accumulateSource(const ConvRowArgs& args, const ConvSource& src, int x0, const float* w,
                                            __m256* lo, __m256* hi) {
  for (int ky = 0; ky < 3; ++ky) {
    for (int kx = 0; kx < 3; ++kx) {
      const float* in = src.rows[ky] + static_cast<long>(x0 + (kx - 1) * args.dilation) * C;
      for (int ci = 0; ci < C; ++ci, w += kLanes) {
        const __m256 wLo = _mm256_loadu_ps(w);
        const __m256 wHi = _mm256_loadu_ps(w + 8);
        for (int p = 0; p < N; ++p) {
          const __m256 v = _mm256_broadcast_ss(in + p * C + ci);
          lo[p] = _mm256_fmadd_ps(v, wLo, lo[p]);
          hi[p] = _mm256_fmadd_ps(v, wHi, hi[p]);
        }
      }
    }
  }
  return w;
}

template <int N>
static inline void convBlock256(const ConvRowArgs& args, int x0) {
  __m256 lo[N], hi[N];
  const __m256 biasLo = _mm256_loadu_ps(args.bias);
  const __m256 biasHi = _mm256_loadu_ps(args.bias + 8);
  for (int p = 0; p < N; ++p) {
    lo[p] = biasLo;
    hi[p] = biasHi;
  }
  const float* w = args.weights;
  for (int s = 0; s < args.sourceCount; ++s) {
    const ConvSource& src = args.sources[s];
    w = src.channels == 16 ? accumulateSource<N, 16>(args, src, x0, w, lo, hi)
                           : accumulateSource<N, 4>(args, src, x0, w, lo, hi);
  }
  const __m256 slope = _mm256_set1_ps(0.01f);
  const __m256 zero = _mm256_setzero_ps();
  for (int p = 0; p < N; ++p) {
    __m256 a = lo[p], b = hi[p];
    if (args.leaky) {
      a = _mm256_blendv_ps(a, _mm256_mul_ps(a, slope), _mm256_cmp_ps(a, zero, _CMP_NGT_UQ));
      b = _mm256_blendv_ps(b, _mm256_mul_ps(b, slope), _mm256_cmp_ps(b, zero, _CMP_NGT_UQ));
    }
    float* out = args.out + static_cast<long>(x0 + p) * kLanes;
    _mm256_storeu_ps(out, a);
    _mm256_storeu_ps(out + 8, b);
  }
}

template <int kBlock>
static void convRow256(const ConvRowArgs& args) {
  int x = 0;
  for (; x + kBlock <= args.count; x += kBlock) convBlock256<kBlock>(args, x);
  for (; x < args.count; ++x) convBlock256<1>(args, x);
}

// Sums of the 8 lanes of four vectors, in that order.
static inline __m128 sumLanes4(__m256 a, __m256 b, __m256 c, __m256 d) {
  const __m256 pairs = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
  return _mm_add_ps(_mm256_castps256_ps128(pairs), _mm256_extractf128_ps(pairs, 1));
}

// Two pixels of the narrow kernel (conv_kernels.h); N = 1 for a row's last odd pixel.
template <int N>
static inline void narrowBlock(const ConvRowArgs& args, int x0) {
  constexpr int kRowInputs = 3 * kLanes;
  __m256 acc[2][kNarrowOutputs];
  for (int p = 0; p < 2; ++p) {
    for (int co = 0; co < kNarrowOutputs; ++co) acc[p][co] = _mm256_setzero_ps();
  }
  for (int ky = 0; ky < 3; ++ky) {
    const float* in = args.sources[0].rows[ky] + static_cast<long>(x0 - 1) * kLanes;
    for (int i = 0; i < kRowInputs; i += 8) {
      __m256 x[N];
      for (int p = 0; p < N; ++p) x[p] = _mm256_loadu_ps(in + p * kLanes + i);
      for (int co = 0; co < kNarrowOutputs; ++co) {
        const __m256 w = _mm256_loadu_ps(args.weights + (co * 3 + ky) * kRowInputs + i);
        for (int p = 0; p < N; ++p) acc[p][co] = _mm256_fmadd_ps(x[p], w, acc[p][co]);
      }
    }
  }
  alignas(16) float sums[8];
  _mm_store_ps(sums, sumLanes4(acc[0][0], acc[0][1], acc[0][2], acc[1][0]));
  _mm_store_ps(sums + 4, sumLanes4(acc[1][1], acc[1][2], _mm256_setzero_ps(), _mm256_setzero_ps()));
  for (int p = 0; p < N; ++p) {
    float* out = args.out + static_cast<long>(x0 + p) * kLanes;
    for (int co = 0; co < kNarrowOutputs; ++co) out[co] = args.bias[co] + sums[p * kNarrowOutputs + co];
  }
}

void convRowNarrowAvx2(const ConvRowArgs& args) {
  int x = 0;
  for (; x + 2 <= args.count; x += 2) narrowBlock<2>(args, x);
  for (; x < args.count; ++x) narrowBlock<1>(args, x);
}

void convRowAvx2(const ConvRowArgs& args) {
  // e7 goes through the narrow kernel, so the direct kernel always computes 16 outputs.
  FLWNET_CHECK(args.outputLanes == kLanes, "the AVX2 direct kernel computes 16 outputs");
  convRow256<4>(args);
}

void finishRowAvx2(const FinishRowArgs& args) { output_row::finishRow(args); }

}  // namespace flwnet::cpu
