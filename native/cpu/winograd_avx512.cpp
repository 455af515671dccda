// The AVX-512 Winograd row kernel (see winograd.h). Work goes in chunks of up to 12 tiles: the
// chunk's inputs are transformed into a small cache-resident buffer, then each of the 8 points is
// one GEMM whose 12 accumulators (one zmm = 16 outputs per tile) take each weight vector once,
// then the inverse transform adds the bias and the LeakyReLU and stores the tiles' outputs.
#include <immintrin.h>

#include "core/error.h"
#include "winograd.h"

namespace flwnet::cpu {
namespace {

constexpr int kChunk = 12;       // tiles per GEMM block: 12 accumulators + weights fit the registers
constexpr int kMaxReduction = 96;

// B^T d for the 8 inputs of one tile and up to 16 channels: point i goes to v + i * pointStride.
// The rows of B^T pair up (1 and 2, 3 and 4, 5 and 6) as a +- b with shared halves.
inline void transformInput(const float* first, long stride, __mmask16 mask, float* v, long pointStride) {
  __m512 d[kWinogradPoints];
  for (int i = 0; i < kWinogradPoints; ++i) d[i] = _mm512_maskz_loadu_ps(mask, first + i * stride);
  const __m512 c21_4 = _mm512_set1_ps(21.0f / 4), c17_4 = _mm512_set1_ps(17.0f / 4);
  const __m512 c5_4 = _mm512_set1_ps(5.0f / 4), c5_2 = _mm512_set1_ps(5.0f / 2);
  const __m512 quarter = _mm512_set1_ps(0.25f), half = _mm512_set1_ps(0.5f);
  const __m512 two = _mm512_set1_ps(2.0f), four = _mm512_set1_ps(4.0f), five = _mm512_set1_ps(5.0f);
  __m512 t[kWinogradPoints];
  t[0] = _mm512_fmadd_ps(c21_4, _mm512_sub_ps(d[4], d[2]), _mm512_sub_ps(d[0], d[6]));
  t[7] = _mm512_fmadd_ps(c21_4, _mm512_sub_ps(d[3], d[5]), _mm512_sub_ps(d[7], d[1]));
  const __m512 a12 = _mm512_fnmadd_ps(c17_4, d[4], _mm512_add_ps(d[2], d[6]));
  const __m512 b12 = _mm512_fnmadd_ps(c17_4, d[3], _mm512_add_ps(d[1], d[5]));
  t[1] = _mm512_add_ps(a12, b12);
  t[2] = _mm512_sub_ps(a12, b12);
  const __m512 a34 = _mm512_fnmadd_ps(c5_4, d[4], _mm512_fmadd_ps(quarter, d[2], d[6]));
  const __m512 b34 = _mm512_fmadd_ps(two, d[5], _mm512_fnmadd_ps(c5_2, d[3], _mm512_mul_ps(half, d[1])));
  t[3] = _mm512_add_ps(a34, b34);
  t[4] = _mm512_sub_ps(a34, b34);
  const __m512 a56 = _mm512_fnmadd_ps(five, d[4], _mm512_fmadd_ps(four, d[2], d[6]));
  const __m512 b56 = _mm512_fmadd_ps(half, d[5], _mm512_fnmadd_ps(c5_2, d[3], _mm512_mul_ps(two, d[1])));
  t[5] = _mm512_add_ps(a56, b56);
  t[6] = _mm512_sub_ps(a56, b56);
  for (int i = 0; i < kWinogradPoints; ++i) _mm512_mask_storeu_ps(v + i * pointStride, mask, t[i]);
}

// Fills v[point][tile][K] for tiles [first, first + n).
template <int K>
inline void transformTiles(const ConvRowArgs& args, int first, int n, float* v) {
  for (int p = 0; p < n; ++p) {
    const TileSpan span = tileSpan(first + p, args.dilation);
    float* vp = v + p * K;
    for (int s = 0; s < args.sourceCount; ++s) {
      const ConvSource& src = args.sources[s];
      const int channels = src.channels;
      const __mmask16 mask = static_cast<__mmask16>((1u << channels) - 1u);
      for (int ky = 0; ky < 3; ++ky, vp += channels) {
        const float* firstInput = src.rows[ky] + (span.base - span.step) * channels;
        transformInput(firstInput, span.step * channels, mask, vp, static_cast<long>(kChunk) * K);
      }
    }
  }
}

// One point's GEMM: m[tile][16] = v[tile][K] x u[K][16] for N tiles.
template <int N, int K>
inline void multiplyPoint(const float* v, const float* u, float* m) {
  __m512 acc[N];
  for (int p = 0; p < N; ++p) acc[p] = _mm512_setzero_ps();
  for (int k = 0; k < K; ++k) {
    const __m512 w = _mm512_loadu_ps(u + k * kLanes);
    for (int p = 0; p < N; ++p) acc[p] = _mm512_fmadd_ps(_mm512_set1_ps(v[p * K + k]), w, acc[p]);
  }
  for (int p = 0; p < N; ++p) _mm512_store_ps(m + p * kLanes, acc[p]);
}

// A^T m, plus bias and LeakyReLU, for tiles [first, first + n); stores only outputs inside the row.
inline void inverseTiles(const ConvRowArgs& args, int first, int n, const float* m) {
  const __m512 bias = _mm512_loadu_ps(args.bias);
  const __m512 slope = _mm512_set1_ps(0.01f), zero = _mm512_setzero_ps();
  constexpr long kPointStride = static_cast<long>(kChunk) * kLanes;
  for (int p = 0; p < n; ++p) {
    __m512 mv[kWinogradPoints];
    for (int i = 0; i < kWinogradPoints; ++i) mv[i] = _mm512_load_ps(m + p * kLanes + i * kPointStride);
    // Points +-1, +-2, +-1/2 enter output j with weights (+-1)^j, (+-2)^j, (+-1/2)^j.
    const __m512 sum1 = _mm512_add_ps(mv[1], mv[2]), dif1 = _mm512_sub_ps(mv[1], mv[2]);
    const __m512 sum2 = _mm512_add_ps(mv[3], mv[4]), dif2 = _mm512_sub_ps(mv[3], mv[4]);
    const __m512 sumH = _mm512_add_ps(mv[5], mv[6]), difH = _mm512_sub_ps(mv[5], mv[6]);
    __m512 out[kWinogradOutputs];
    out[0] = _mm512_add_ps(_mm512_add_ps(mv[0], sum1), _mm512_add_ps(sum2, sumH));
    out[1] = _mm512_fmadd_ps(_mm512_set1_ps(2.0f), dif2, _mm512_fmadd_ps(_mm512_set1_ps(0.5f), difH, dif1));
    out[2] = _mm512_fmadd_ps(_mm512_set1_ps(4.0f), sum2, _mm512_fmadd_ps(_mm512_set1_ps(0.25f), sumH, sum1));
    out[3] = _mm512_fmadd_ps(_mm512_set1_ps(8.0f), dif2, _mm512_fmadd_ps(_mm512_set1_ps(0.125f), difH, dif1));
    out[4] = _mm512_fmadd_ps(_mm512_set1_ps(16.0f), sum2, _mm512_fmadd_ps(_mm512_set1_ps(0.0625f), sumH, sum1));
    out[5] = _mm512_add_ps(
        _mm512_fmadd_ps(_mm512_set1_ps(32.0f), dif2, _mm512_fmadd_ps(_mm512_set1_ps(0.03125f), difH, dif1)), mv[7]);
    const TileSpan span = tileSpan(first + p, args.dilation);
    for (int j = 0; j < kWinogradOutputs; ++j) {
      const long x = span.base + j * span.step;
      if (x >= args.count) break;
      __m512 v = _mm512_add_ps(out[j], bias);
      if (args.leaky) v = _mm512_mask_mul_ps(v, _mm512_cmp_ps_mask(v, zero, _CMP_NGT_UQ), v, slope);
      _mm512_storeu_ps(args.out + x * kLanes, v);
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
  alignas(64) float v[kWinogradPoints * kChunk * kMaxReduction];
  alignas(64) float m[kWinogradPoints * kChunk * kLanes];
  const int tiles = tileCount(args.count, args.dilation);
  int tile = 0;
  for (; tile + kChunk <= tiles; tile += kChunk) processChunk<kChunk, K>(args, tile, v, m);
  for (; tile + 4 <= tiles; tile += 4) processChunk<4, K>(args, tile, v, m);
  for (; tile < tiles; ++tile) processChunk<1, K>(args, tile, v, m);
}

}  // namespace

void winogradRowAvx512(const ConvRowArgs& args) {
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
