// The AVX2 Winograd row kernel (see winograd.h), organised as the AVX-512 one: chunks of tiles
// whose inputs are transformed into a small buffer, one GEMM per point, then the inverse
// transform. A tile's 16 outputs are two ymm registers, so a GEMM block holds 6 tiles (12
// accumulators, two weight vectors and a broadcast: 15 of the 16 registers).
#include <immintrin.h>

#include "winograd.h"
#include "winograd_simd.h"
#include "winograd_transforms.h"

namespace flwnet::cpu {
namespace {

constexpr int kChunk = 6;
constexpr int kMaxReduction = 96;

// The input transform runs on 8 channels (ymm) or 4 channels (xmm, the [x, r] source).
struct Ops256 {
  using V = __m256;
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V splat(float x) { return _mm256_set1_ps(x); }
};
struct Ops128 {
  using V = __m128;
  static V load(const float* p) { return _mm_loadu_ps(p); }
  static void store(float* p, V v) { _mm_storeu_ps(p, v); }
  static V add(V a, V b) { return _mm_add_ps(a, b); }
  static V sub(V a, V b) { return _mm_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm_mul_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm_fnmadd_ps(a, b, c); }
  static V splat(float x) { return _mm_set1_ps(x); }
};

// B^T d for the 8 inputs of one tile and one vector of channels: point i goes to v + i * pointStride.
template <class Ops>
inline void transformInput(const float* first, long stride, float* v, long pointStride) {
  typename Ops::V d[kWinogradPoints], t[kWinogradPoints];
  for (int i = 0; i < kWinogradPoints; ++i) d[i] = Ops::load(first + i * stride);
  winogradInputTransform<Ops>(d, t);
  for (int i = 0; i < kWinogradPoints; ++i) Ops::store(v + i * pointStride, t[i]);
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
          transformInput<Ops128>(in, stride, vp, kPointStride);
          continue;
        }
        for (int c = 0; c < channels; c += 8) transformInput<Ops256>(in + c, stride, vp + c, kPointStride);
      }
    }
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
      __m256 out[kWinogradOutputs];
      winogradOutputTransform<Ops256>(mv, out);
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
    winogradGemmAvx2<N, K>(v + static_cast<long>(t) * kChunk * K, args.weights + static_cast<long>(t) * K * kLanes,
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
  dispatchWinogradReduction(args, [&](auto k) { winogradRow<decltype(k)::value>(args); });
}

}  // namespace flwnet::cpu
