// The AVX-512 Winograd row kernel (see winograd.h). Work goes in chunks of up to 12 tiles: the
// chunk's inputs are transformed into a small cache-resident buffer, then each of the 8 points is
// one GEMM whose 12 accumulators (one zmm = 16 outputs per tile) take each weight vector once,
// then the inverse transform adds the bias and the LeakyReLU and stores the tiles' outputs.
#include <immintrin.h>

#include "winograd.h"
#include "winograd_simd.h"
#include "winograd_transforms.h"

namespace flwnet::cpu {
namespace {

constexpr int kChunk = 12;       // tiles per GEMM block: 12 accumulators + weights fit the registers
constexpr int kMaxReduction = 96;

// B^T d for the 8 inputs of one tile and up to 16 channels: point i goes to v + i * pointStride.
inline void transformInput(const float* first, long stride, __mmask16 mask, float* v, long pointStride) {
  __m512 d[kWinogradPoints], t[kWinogradPoints];
  for (int i = 0; i < kWinogradPoints; ++i) d[i] = _mm512_maskz_loadu_ps(mask, first + i * stride);
  winogradInputTransform<Ops512>(d, t);
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

// A^T m, plus bias and LeakyReLU, for tiles [first, first + n); stores only outputs inside the row.
inline void inverseTiles(const ConvRowArgs& args, int first, int n, const float* m) {
  const __m512 bias = _mm512_loadu_ps(args.bias);
  const __m512 slope = _mm512_set1_ps(0.01f), zero = _mm512_setzero_ps();
  constexpr long kPointStride = static_cast<long>(kChunk) * kLanes;
  for (int p = 0; p < n; ++p) {
    __m512 mv[kWinogradPoints];
    for (int i = 0; i < kWinogradPoints; ++i) mv[i] = _mm512_load_ps(m + p * kLanes + i * kPointStride);
    __m512 out[kWinogradOutputs];
    winogradOutputTransform<Ops512>(mv, out);
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
    winogradGemmAvx512<N, K>(v + static_cast<long>(t) * kChunk * K, args.weights + static_cast<long>(t) * K * kLanes,
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
  dispatchWinogradReduction(args, [&](auto k) { winogradRow<decltype(k)::value>(args); });
}

}  // namespace flwnet::cpu
