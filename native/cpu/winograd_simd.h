// What the row kernels (winograd.h) and the block kernels (winograd2d.h) of one instruction set
// share: the vector arithmetic the transforms run on (winograd_transforms.h) and one point's GEMM,
// m[tile][16] = v[tile][K] x u[K][16] for N tiles. Each part is compiled only where its
// translation unit enables that instruction set.
#pragma once
#include <immintrin.h>

#include "conv_kernels.h"

// The accumulators must live in registers: unless the tile loops are unrolled before the arrays
// are split into scalars, GCC can keep an array on the stack and clear it with `rep stos` on every
// call (it did for the block kernel's 8-tile GEMM, called out of line once per point).
#if defined(__GNUC__)
#define FLWNET_GEMM_INLINE __attribute__((always_inline)) inline
#define FLWNET_UNROLL_TILES _Pragma("GCC unroll 16")
#else
#define FLWNET_GEMM_INLINE inline
#define FLWNET_UNROLL_TILES
#endif

namespace flwnet::cpu {
// Internal linkage: each instruction set's translation unit keeps its own copy (see output_row.h).
namespace {

// The block a GEMM call may prefetch while it runs: `v`, its N * K transformed inputs, and `u`,
// its K x 16 weights (nullptr: the same weights as this block's).
struct NextGemmBlock {
  const float* v;
  const float* u;
};

#if defined(__AVX2__) && defined(__FMA__)
// A tile's 16 outputs are two ymm registers.
template <int N, int K>
FLWNET_GEMM_INLINE void winogradGemmAvx2(const float* v, const float* u, float* m) {
  __m256 lo[N], hi[N];
  FLWNET_UNROLL_TILES
  for (int p = 0; p < N; ++p) lo[p] = hi[p] = _mm256_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const __m256 wLo = _mm256_loadu_ps(u + k * kLanes);
    const __m256 wHi = _mm256_loadu_ps(u + k * kLanes + 8);
    FLWNET_UNROLL_TILES
    for (int p = 0; p < N; ++p) {
      const __m256 x = _mm256_broadcast_ss(v + p * K + k);
      lo[p] = _mm256_fmadd_ps(x, wLo, lo[p]);
      hi[p] = _mm256_fmadd_ps(x, wHi, hi[p]);
    }
  }
  FLWNET_UNROLL_TILES
  for (int p = 0; p < N; ++p) {
    _mm256_storeu_ps(m + p * kLanes, lo[p]);
    _mm256_storeu_ps(m + p * kLanes + 8, hi[p]);
  }
}
#endif

#if defined(__AVX512F__)
// One zmm holds a pixel's 16 channels.
struct Ops512 {
  using V = __m512;
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }
  static V splat(float x) { return _mm512_set1_ps(x); }
};

// A tile's 16 outputs are one zmm register. With kPrefetch, it also asks for the lines of `next`.
template <int N, int K, bool kPrefetch = false>
FLWNET_GEMM_INLINE void winogradGemmAvx512(const float* v, const float* u, float* m, NextGemmBlock next = {}) {
  constexpr int kNextVLines = N * K / kLanes;
  __m512 acc[N];
  FLWNET_UNROLL_TILES
  for (int p = 0; p < N; ++p) acc[p] = _mm512_setzero_ps();
  const auto step = [&](int k) {
    const __m512 w = _mm512_loadu_ps(u + k * kLanes);
    FLWNET_UNROLL_TILES
    for (int p = 0; p < N; ++p) acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(v[p * K + k]), w, acc[p]);
  };
  if constexpr (kPrefetch) {
    // Unrolled, so that the prefetches cost no branches.
    FLWNET_UNROLL_TILES
    for (int k = 0; k < K; ++k) {
      if (k < kNextVLines) _mm_prefetch(reinterpret_cast<const char*>(next.v + k * kLanes), _MM_HINT_T0);
      if (next.u != nullptr) _mm_prefetch(reinterpret_cast<const char*>(next.u + k * kLanes), _MM_HINT_T0);
      step(k);
    }
    for (int line = K; line < kNextVLines; ++line) _mm_prefetch(reinterpret_cast<const char*>(next.v + line * kLanes), _MM_HINT_T0);
  } else {
    for (int k = 0; k < K; ++k) step(k);
  }
  FLWNET_UNROLL_TILES
  for (int p = 0; p < N; ++p) _mm512_storeu_ps(m + p * kLanes, acc[p]);
}

#endif

}  // namespace
}  // namespace flwnet::cpu
