// The AVX2 Winograd row kernel (see winograd.h), organised as the AVX-512 one: chunks of tiles
// whose inputs are transformed into a small buffer, one GEMM per point, then the inverse
// transform. A tile's 16 outputs are two ymm registers, so a GEMM block holds 6 tiles (12
// accumulators, two weight vectors and a broadcast: 15 of the 16 registers).
#include <immintrin.h>

#include "core/error.h"
#include "winograd.h"

namespace flwnet::cpu {
namespace {

constexpr int kChunk = 6;
constexpr int kMaxReduction = 96;

// The transforms are written once for 8 channels (ymm) and 4 channels (xmm, the [x, r] source).
inline __m256 vload(const float* p, __m256) { return _mm256_loadu_ps(p); }
inline __m128 vload(const float* p, __m128) { return _mm_loadu_ps(p); }
inline void vstore(float* p, __m256 v) { _mm256_storeu_ps(p, v); }
inline void vstore(float* p, __m128 v) { _mm_storeu_ps(p, v); }
inline __m256 vset(float x, __m256) { return _mm256_set1_ps(x); }
inline __m128 vset(float x, __m128) { return _mm_set1_ps(x); }
inline __m256 vadd(__m256 a, __m256 b) { return _mm256_add_ps(a, b); }
inline __m128 vadd(__m128 a, __m128 b) { return _mm_add_ps(a, b); }
inline __m256 vsub(__m256 a, __m256 b) { return _mm256_sub_ps(a, b); }
inline __m128 vsub(__m128 a, __m128 b) { return _mm_sub_ps(a, b); }
inline __m256 vmul(__m256 a, __m256 b) { return _mm256_mul_ps(a, b); }
inline __m128 vmul(__m128 a, __m128 b) { return _mm_mul_ps(a, b); }
inline __m256 vfma(__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); }
inline __m128 vfma(__m128 a, __m128 b, __m128 c) { return _mm_fmadd_ps(a, b, c); }
inline __m256 vfnma(__m256 a, __m256 b, __m256 c) { return _mm256_fnmadd_ps(a, b, c); }
inline __m128 vfnma(__m128 a, __m128 b, __m128 c) { return _mm_fnmadd_ps(a, b, c); }

// B^T d for the 8 inputs of one tile and one vector of channels; the same arithmetic as the
// AVX-512 kernel's transformInput.
template <class Vec>
inline void transformInput(const float* first, long stride, float* v, long pointStride) {
  const Vec like{};
  Vec d[kWinogradPoints];
  for (int i = 0; i < kWinogradPoints; ++i) d[i] = vload(first + i * stride, like);
  const Vec c21_4 = vset(21.0f / 4, like), c17_4 = vset(17.0f / 4, like);
  const Vec c5_4 = vset(5.0f / 4, like), c5_2 = vset(5.0f / 2, like);
  const Vec quarter = vset(0.25f, like), half = vset(0.5f, like);
  const Vec two = vset(2.0f, like), four = vset(4.0f, like), five = vset(5.0f, like);
  Vec t[kWinogradPoints];
  t[0] = vfma(c21_4, vsub(d[4], d[2]), vsub(d[0], d[6]));
  t[7] = vfma(c21_4, vsub(d[3], d[5]), vsub(d[7], d[1]));
  const Vec a12 = vfnma(c17_4, d[4], vadd(d[2], d[6]));
  const Vec b12 = vfnma(c17_4, d[3], vadd(d[1], d[5]));
  t[1] = vadd(a12, b12);
  t[2] = vsub(a12, b12);
  const Vec a34 = vfnma(c5_4, d[4], vfma(quarter, d[2], d[6]));
  const Vec b34 = vfma(two, d[5], vfnma(c5_2, d[3], vmul(half, d[1])));
  t[3] = vadd(a34, b34);
  t[4] = vsub(a34, b34);
  const Vec a56 = vfnma(five, d[4], vfma(four, d[2], d[6]));
  const Vec b56 = vfma(half, d[5], vfnma(c5_2, d[3], vmul(two, d[1])));
  t[5] = vadd(a56, b56);
  t[6] = vsub(a56, b56);
  for (int i = 0; i < kWinogradPoints; ++i) vstore(v + i * pointStride, t[i]);
}

// Fills v[point][tile][K] for tiles [first, first + n).
template <int K>
inline void transformTiles(const ConvRowArgs& args, int first, int n, float* v) {
  constexpr long kPointStride = static_cast<long>(kChunk) * K;
  for (int p = 0; p < n; ++p) {
    const TileSpan span = tileSpan(first + p, args.dilation);
    float* vp = v + p * K;
    for (int s = 0; s < args.sourceCount; ++s) {
      const ConvSource& src = args.sources[s];
      const int channels = src.channels;
      for (int ky = 0; ky < 3; ++ky, vp += channels) {
        const float* in = src.rows[ky] + (span.base - span.step) * channels;
        const long stride = span.step * channels;
        if (channels == 4) {
          transformInput<__m128>(in, stride, vp, kPointStride);
          continue;
        }
        for (int c = 0; c < channels; c += 8) transformInput<__m256>(in + c, stride, vp + c, kPointStride);
      }
    }
  }
}

// One point's GEMM: m[tile][16] = v[tile][K] x u[K][16] for N tiles.
template <int N, int K>
inline void multiplyPoint(const float* v, const float* u, float* m) {
  __m256 lo[N], hi[N];
  for (int p = 0; p < N; ++p) lo[p] = hi[p] = _mm256_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const __m256 wLo = _mm256_loadu_ps(u + k * kLanes);
    const __m256 wHi = _mm256_loadu_ps(u + k * kLanes + 8);
    for (int p = 0; p < N; ++p) {
      const __m256 x = _mm256_broadcast_ss(v + p * K + k);
      lo[p] = _mm256_fmadd_ps(x, wLo, lo[p]);
      hi[p] = _mm256_fmadd_ps(x, wHi, hi[p]);
    }
  }
  for (int p = 0; p < N; ++p) {
    _mm256_storeu_ps(m + p * kLanes, lo[p]);
    _mm256_storeu_ps(m + p * kLanes + 8, hi[p]);
  }
}

// A^T m, plus bias and LeakyReLU, for tiles [first, first + n), 8 output channels at a time;
// stores only outputs inside the row.
inline void inverseTiles(const ConvRowArgs& args, int first, int n, const float* m) {
  constexpr long kPointStride = static_cast<long>(kChunk) * kLanes;
  const __m256 slope = _mm256_set1_ps(0.01f), zero = _mm256_setzero_ps();
  for (int p = 0; p < n; ++p) {
    const TileSpan span = tileSpan(first + p, args.dilation);
    for (int half = 0; half < kLanes; half += 8) {
      __m256 mv[kWinogradPoints];
      for (int i = 0; i < kWinogradPoints; ++i) mv[i] = _mm256_loadu_ps(m + p * kLanes + half + i * kPointStride);
      const __m256 sum1 = _mm256_add_ps(mv[1], mv[2]), dif1 = _mm256_sub_ps(mv[1], mv[2]);
      const __m256 sum2 = _mm256_add_ps(mv[3], mv[4]), dif2 = _mm256_sub_ps(mv[3], mv[4]);
      const __m256 sumH = _mm256_add_ps(mv[5], mv[6]), difH = _mm256_sub_ps(mv[5], mv[6]);
      __m256 out[kWinogradOutputs];
      out[0] = _mm256_add_ps(_mm256_add_ps(mv[0], sum1), _mm256_add_ps(sum2, sumH));
      out[1] = _mm256_fmadd_ps(_mm256_set1_ps(2.0f), dif2, _mm256_fmadd_ps(_mm256_set1_ps(0.5f), difH, dif1));
      out[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), sum2, _mm256_fmadd_ps(_mm256_set1_ps(0.25f), sumH, sum1));
      out[3] = _mm256_fmadd_ps(_mm256_set1_ps(8.0f), dif2, _mm256_fmadd_ps(_mm256_set1_ps(0.125f), difH, dif1));
      out[4] = _mm256_fmadd_ps(_mm256_set1_ps(16.0f), sum2, _mm256_fmadd_ps(_mm256_set1_ps(0.0625f), sumH, sum1));
      out[5] = _mm256_add_ps(
          _mm256_fmadd_ps(_mm256_set1_ps(32.0f), dif2, _mm256_fmadd_ps(_mm256_set1_ps(0.03125f), difH, dif1)), mv[7]);
      const __m256 bias = _mm256_loadu_ps(args.bias + half);
      for (int j = 0; j < kWinogradOutputs; ++j) {
        const long x = span.base + j * span.step;
        if (x >= args.count) break;
        __m256 y = _mm256_add_ps(out[j], bias);
        if (args.leaky) y = _mm256_blendv_ps(y, _mm256_mul_ps(y, slope), _mm256_cmp_ps(y, zero, _CMP_NGT_UQ));
        _mm256_storeu_ps(args.out + x * kLanes + half, y);
      }
    }
  }
}

template <int N, int K>
inline void processChunk(const ConvRowArgs& args, int first, float* v, float* m) {
  transformTiles<K>(args, first, N, v);
  for (int t = 0; t < kWinogradPoints; ++t) {
    multiplyPoint<N, K>(v + static_cast<long>(t) * kChunk * K, args.weights + static_cast<long>(t) * K * kLanes,
                        m + static_cast<long>(t) * kChunk * kLanes);
  }
  inverseTiles(args, first, N, m);
}

template <int K>
void winogradRow(const ConvRowArgs& args) {
  alignas(32) float v[kWinogradPoints * kChunk * kMaxReduction];
  alignas(32) float m[kWinogradPoints * kChunk * kLanes];
  const int tiles = tileCount(args.count, args.dilation);
  int tile = 0;
  for (; tile + kChunk <= tiles; tile += kChunk) processChunk<kChunk, K>(args, tile, v, m);
  for (; tile < tiles; ++tile) processChunk<1, K>(args, tile, v, m);
}

}  // namespace

void winogradRowAvx2(const ConvRowArgs& args) {
  int reduction = 0;
  for (int s = 0; s < args.sourceCount; ++s) reduction += 3 * args.sources[s].channels;
  FLWNET_CHECK(args.outputLanes == kLanes, "the Winograd kernel computes 16 outputs");
  switch (reduction) {
    case 12: return winogradRow<12>(args);
    case 48: return winogradRow<48>(args);
    case 60: return winogradRow<60>(args);
    case 96: return winogradRow<96>(args);
    default: FLWNET_CHECK(false, "no Winograd kernel for this layer's input channels");
  }
}

}  // namespace flwnet::cpu
