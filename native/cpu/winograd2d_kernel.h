// The F(6x6, 3x3) block kernel (winograd2d.h), written once for any instruction set. Each kernel
// file supplies an Isa struct: `Ops` for winograd_transforms.h with `V` covering 16 channels,
// load(p, channels) and storeChannels(p, v, channels) for 4 or 16 channels (zeros beyond them),
// loadFull/storeFull, activate(v, bias) = LeakyReLU(v + bias), a GEMM
// gemm<N, K>(v[N][K], u[K][16], m[N][16]) and kChunk, the tiles per GEMM block.
//
// Work goes in chunks of kChunk tiles of 6x6 outputs along the row: each tile's 8 input rows are
// transformed along x, then along y, into v[point][tile][K] (a buffer that stays in L1/L2); the
// 64 GEMMs give m[point][tile][16]; the inverse transform along y, then x, adds the bias and the
// LeakyReLU and stores the outputs that lie inside the row.
#pragma once
#include <type_traits>

#include "core/error.h"
#include "winograd.h"
#include "winograd2d.h"
#include "winograd_transforms.h"

namespace flwnet::cpu {
// Internal linkage: each instruction set's translation unit keeps its own copy (see output_row.h).
namespace {

constexpr int kMaxBlockReduction = 32;

template <class Isa, int K>
struct Block2d {
  using Ops = typename Isa::Ops;
  using V = typename Isa::V;
  static constexpr int N = Isa::kChunk;

  // v[point][slot][K] for one tile, all sources.
  static void transformTile(const BlockArgs& a, int tile, int slot, float* v) {
    const TileSpan span = tileSpan(tile, a.dilation);
    int offset = 0;
    for (int s = 0; s < a.sourceCount; ++s) {
      const BlockSource& src = a.sources[s];
      const int channels = src.channels;
      V x[kWinogradPoints][kWinogradPoints];  // [input row][x point]
      for (int r = 0; r < kBlockInputRows; ++r) {
        const float* first = src.rows[r] + (span.base - span.step) * channels;
        V d[kWinogradPoints];
        for (int i = 0; i < kWinogradPoints; ++i) d[i] = Isa::load(first + i * span.step * channels, channels);
        winogradInputTransform<Ops>(d, x[r]);
      }
      for (int px = 0; px < kWinogradPoints; ++px) {
        V d[kWinogradPoints], t[kWinogradPoints];
        for (int r = 0; r < kBlockInputRows; ++r) d[r] = x[r][px];
        winogradInputTransform<Ops>(d, t);
        for (int py = 0; py < kWinogradPoints; ++py) {
          Isa::storeChannels(v + (static_cast<long>(py * kWinogradPoints + px) * N + slot) * K + offset, t[py], channels);
        }
      }
      offset += channels;
    }
  }

  // The inverse transform of one tile, bias and activation, stores inside the row.
  static void inverseTile(const BlockArgs& a, int tile, int slot, const float* m, V bias) {
    const TileSpan span = tileSpan(tile, a.dilation);
    V y[kWinogradOutputs][kWinogradPoints];  // [output row][x point]
    for (int px = 0; px < kWinogradPoints; ++px) {
      V mv[kWinogradPoints], o[kWinogradOutputs];
      for (int py = 0; py < kWinogradPoints; ++py) {
        mv[py] = Isa::loadFull(m + (static_cast<long>(py * kWinogradPoints + px) * N + slot) * kLanes);
      }
      winogradOutputTransform<Ops>(mv, o);
      for (int j = 0; j < kWinogradOutputs; ++j) y[j][px] = o[j];
    }
    for (int j = 0; j < kBlockRows; ++j) {
      if (a.out[j] == nullptr) continue;
      V o[kWinogradOutputs];
      winogradOutputTransform<Ops>(y[j], o);
      for (int i = 0; i < kWinogradOutputs; ++i) {
        const long x = span.base + i * span.step;
        if (x >= a.count) break;
        Isa::storeFull(a.out[j] + x * kLanes, Isa::activate(o[i], bias));
      }
    }
  }

  template <int n>
  static void chunk(const BlockArgs& a, int first, float* v, float* m) {
    for (int p = 0; p < n; ++p) transformTile(a, first + p, p, v);
    for (int point = 0; point < kPoints2d; ++point) {
      Isa::template gemm<n, K>(v + static_cast<long>(point) * N * K, a.weights + static_cast<long>(point) * K * kLanes,
                               m + static_cast<long>(point) * N * kLanes);
    }
    const V bias = Isa::loadFull(a.bias);
    for (int p = 0; p < n; ++p) inverseTile(a, first + p, p, m, bias);
  }

  template <int n = N>
  static void tail(const BlockArgs& a, int first, int count, float* v, float* m) {
    if constexpr (n > 0) {
      if (count == n) return chunk<n>(a, first, v, m);
      tail<n - 1>(a, first, count, v, m);
    }
  }

  static void run(const BlockArgs& a, float* scratch) {
    float* v = scratch;
    float* m = scratch + static_cast<long>(kPoints2d) * N * kMaxBlockReduction;
    const int tiles = tileCount(a.count, a.dilation);
    int tile = 0;
    for (; tile + N <= tiles; tile += N) chunk<N>(a, tile, v, m);
    if (tile < tiles) tail(a, tile, tiles - tile, v, m);
  }
};

// Floats of scratch a kernel with chunks of `chunk` tiles needs.
constexpr long blockScratchFloats(int chunk) {
  return static_cast<long>(kPoints2d) * chunk * (kMaxBlockReduction + kLanes);
}

// Calls run(std::integral_constant<int, K>) for the layer's input channels K (e1..e6: 4, 16, 20, 32).
template <class Run>
inline void dispatchBlockReduction(const BlockArgs& args, Run run) {
  int reduction = 0;
  for (int s = 0; s < args.sourceCount; ++s) reduction += args.sources[s].channels;
  switch (reduction) {
    case 4: return run(std::integral_constant<int, 4>{});
    case 16: return run(std::integral_constant<int, 16>{});
    case 20: return run(std::integral_constant<int, 20>{});
    case 32: return run(std::integral_constant<int, 32>{});
    default: FLWNET_CHECK(false, "no 2-D Winograd kernel for this layer's input channels");
  }
}

}  // namespace
}  // namespace flwnet::cpu
