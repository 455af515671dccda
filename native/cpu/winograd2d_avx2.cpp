// The AVX2 F(6x6, 3x3) block kernel (winograd2d_kernel.h): a pixel's 16 channels are two ymm
// registers; a GEMM block of 6 tiles keeps 12 accumulators, two weight vectors and a broadcast
// in the 16 registers, and a chunk of 24 tiles shares each point's weights between four blocks.
#include <immintrin.h>

#include "winograd2d_kernel.h"
#include "winograd_simd.h"

namespace flwnet::cpu {
namespace {

struct Pair {
  __m256 lo, hi;
};

struct OpsPair {
  using V = Pair;
  static V add(V a, V b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static V sub(V a, V b) { return {_mm256_sub_ps(a.lo, b.lo), _mm256_sub_ps(a.hi, b.hi)}; }
  static V mul(V a, V b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  static V fma(V a, V b, V c) { return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)}; }
  static V fnma(V a, V b, V c) { return {_mm256_fnmadd_ps(a.lo, b.lo, c.lo), _mm256_fnmadd_ps(a.hi, b.hi, c.hi)}; }
  static V splat(float x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
};

struct Isa256 {
  using Ops = OpsPair;
  using V = Pair;
  static constexpr int kChunk = 24;    // tiles transformed per chunk: four GEMM blocks
  static constexpr int kGemmTiles = 6;  // 12 accumulators, two weight vectors and a broadcast

  static V loadQuad(const float* const p[4]) {
    return {_mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[0])), _mm_loadu_ps(p[1]), 1),
            _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_loadu_ps(p[2])), _mm_loadu_ps(p[3]), 1)};
  }
  static void storeQuad(float* p, long stride, V v, int count) {
    _mm_storeu_ps(p, _mm256_castps256_ps128(v.lo));
    if (count > 1) _mm_storeu_ps(p + stride, _mm256_extractf128_ps(v.lo, 1));
    if (count > 2) _mm_storeu_ps(p + 2 * stride, _mm256_castps256_ps128(v.hi));
    if (count > 3) _mm_storeu_ps(p + 3 * stride, _mm256_extractf128_ps(v.hi, 1));
  }
  static V loadFull(const float* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static void storeFull(float* p, V v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  static __m256 leaky(__m256 y) {
    return _mm256_blendv_ps(y, _mm256_mul_ps(y, _mm256_set1_ps(0.01f)), _mm256_cmp_ps(y, _mm256_setzero_ps(), _CMP_NGT_UQ));
  }
  static V leaky(V v) { return {leaky(v.lo), leaky(v.hi)}; }

  // The next block is not prefetched here: prefetching was measured on AVX-512 only.
  template <int N, int K>
  static void gemm(const float* v, const float* u, float* m, const NextGemmBlock* = nullptr) {
    winogradGemmAvx2<N, K>(v, u, m);
  }
};

static_assert(Isa256::kChunk <= kMaxBlockChunk, "scratch too small");

}  // namespace

void winograd2dBlockAvx2(const BlockArgs& args) {
  dispatchBlockReduction(args, [&](auto k) { Block2d<Isa256, decltype(k)::value>::run(args, args.scratch); });
}

}  // namespace flwnet::cpu
