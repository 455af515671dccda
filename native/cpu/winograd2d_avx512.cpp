// The AVX-512 F(6x6, 3x3) block kernel (winograd2d_kernel.h): one zmm holds a pixel's 16
// channels; a GEMM block of 12 tiles keeps 12 accumulators and the weight vector in registers (the
// broadcasts come from memory), and a chunk of 24 tiles shares each point's weights between two
// blocks.
#include <immintrin.h>

#include "winograd2d_kernel.h"
#include "winograd_simd.h"

namespace flwnet::cpu {
namespace {

struct Isa512 {
  using Ops = Ops512;
  using V = __m512;
  static constexpr int kChunk = 24;      // tiles transformed per chunk: two GEMM blocks
  static constexpr int kGemmTiles = 12;  // 12 accumulators, the weight vector and spare registers

  static V loadQuad(const float* const p[4]) {
    const __m512 lo = _mm512_insertf32x4(_mm512_castps128_ps512(_mm_loadu_ps(p[0])), _mm_loadu_ps(p[1]), 1);
    return _mm512_insertf32x4(_mm512_insertf32x4(lo, _mm_loadu_ps(p[2]), 2), _mm_loadu_ps(p[3]), 3);
  }
  // Lanes 4q..4q+3 go to p + q * stride by a masked store of the whole vector placed 4q floats
  // earlier (still inside the caller's buffer, as stride >= 4).
  static void storeQuad(float* p, long stride, V v, int count) {
    for (int q = 0; q < count; ++q) _mm512_mask_storeu_ps(p + q * (stride - 4), static_cast<__mmask16>(0xFu << (4 * q)), v);
  }
  static V loadFull(const float* p) { return _mm512_loadu_ps(p); }
  static void storeFull(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V leaky(V y) {
    return _mm512_mask_mul_ps(y, _mm512_cmp_ps_mask(y, _mm512_setzero_ps(), _CMP_NGT_UQ), y, _mm512_set1_ps(0.01f));
  }

  // With `next`, the call prefetches that block's lines while it runs.
  template <int N, int K>
  static void gemm(const float* v, const float* u, float* m, const NextGemmBlock* next = nullptr) {
    if (next != nullptr) return winogradGemmAvx512<N, K, true>(v, u, m, *next);
    winogradGemmAvx512<N, K>(v, u, m);
  }
};

static_assert(Isa512::kChunk <= kMaxBlockChunk, "scratch too small");

}  // namespace

void winograd2dBlockAvx512(const BlockArgs& args) {
  dispatchBlockReduction(args, [&](auto k) { Block2d<Isa512, decltype(k)::value>::run(args, args.scratch); });
}

}  // namespace flwnet::cpu
