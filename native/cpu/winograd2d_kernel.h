// The F(6x6, 3x3) block kernel (winograd2d.h), written once for any instruction set. Each kernel
// file supplies an Isa struct: `Ops` for winograd_transforms.h with `V` covering 16 channels,
// loadFull/storeFull of 16 floats, loadQuad(p[4]) and storeQuad(p, stride, v, count) for 4
// channels of 4 tiles (4 floats at p[q]; at p + q * stride), leaky(v) = LeakyReLU(v), a GEMM
// gemm<G, K>(v[G][K], u[K][16], m[G][16], next) for G up to kGemmTiles (the tiles whose
// accumulators fit in the registers), which may prefetch the lines of the block `next` names
// (winograd_simd.h), and kChunk, the tiles transformed before the GEMMs run.
//
// Work goes in chunks of kChunk tiles of 6x6 outputs along the row: each tile's 8 input columns are
// transformed along y, then along x, into v[point][tile][K] (a buffer in L2; the y-transforms of
// the two columns a tile shares with the one before are reused); the 64 GEMMs give
// m[point][tile][16]; the inverse transform along y, then x, adds the bias and the LeakyReLU and
// stores the outputs that lie inside the row. A chunk holds several register blocks so that each
// point's weights, loaded from L2 once per chunk (all 64 points: 64 to 128 KiB), serve more than
// one block of tiles.
#pragma once
#include <type_traits>

#include "core/error.h"
#include "winograd.h"
#include "winograd2d.h"
#include "winograd_simd.h"
#include "winograd_transforms.h"

namespace flwnet::cpu {
// Internal linkage: each instruction set's translation unit keeps its own copy (see output_row.h).
namespace {

template <class Isa, int K>
struct Block2d {
  using Ops = typename Isa::Ops;
  using V = typename Isa::V;
  static constexpr int N = Isa::kChunk;
  static constexpr long kVStride = static_cast<long>(N) * K + kPointPad;       // floats per point in v
  static constexpr long kMStride = static_cast<long>(N) * kLanes + kPointPad;  // floats per point in m

  // The y-transforms of the last two input columns of the tile before (per 16-channel source and
  // column phase): a tile's first two input columns are the last two of the tile before it in the
  // same phase, so each tile transforms only its six new columns.
  struct ColumnCache {
    V column[2][2][2][kWinogradPoints];  // [source][phase][column][y point]
    int tile[2][2];                      // the tile they belong to, kNone: none
    static constexpr int kNone = -1000;  // no tile is 1 or 2 tiles after it
    void reset() {
      for (auto& s : tile) s[0] = s[1] = kNone;
    }
  };

  // v[point][slot][K] for one tile, its 16-channel sources: each input column is transformed along
  // y (its 8 rows), then each y point along x.
  static void transformTile(const BlockArgs& a, int tile, int slot, float* v, ColumnCache& cache) {
    const TileSpan span = tileSpan(tile, a.dilation);
    const int phase = a.dilation == 1 ? 0 : tile & 1;
    const int before = tile - a.dilation;  // the tile before in the same phase
    int offset = 0;
    for (int s = 0; s < a.sourceCount; ++s) {
      const BlockSource& src = a.sources[s];
      const int channels = src.channels;
      if (channels != kLanes) {
        offset += channels;
        continue;
      }
      V y[kWinogradPoints][kWinogradPoints];  // [input column][y point]
      int i = 0;
      if (cache.tile[s][phase] == before) {
        for (int py = 0; py < kWinogradPoints; ++py) {
          y[0][py] = cache.column[s][phase][0][py];
          y[1][py] = cache.column[s][phase][1][py];
        }
        i = 2;
      }
      for (; i < kWinogradPoints; ++i) {
        const long column = (span.base - span.step + i * span.step) * channels;
        V d[kWinogradPoints];
        for (int r = 0; r < kBlockInputRows; ++r) d[r] = Isa::loadFull(src.rows[r] + column);
        winogradInputTransform<Ops>(d, y[i]);
      }
      for (int py = 0; py < kWinogradPoints; ++py) {
        cache.column[s][phase][0][py] = y[6][py];
        cache.column[s][phase][1][py] = y[7][py];
      }
      cache.tile[s][phase] = tile;
      for (int py = 0; py < kWinogradPoints; ++py) {
        V d[kWinogradPoints], t[kWinogradPoints];
        for (int c = 0; c < kWinogradPoints; ++c) d[c] = y[c][py];
        winogradInputTransform<Ops>(d, t);
        for (int px = 0; px < kWinogradPoints; ++px) {
          Isa::storeFull(v + (py * kWinogradPoints + px) * kVStride + slot * K + offset, t[px]);
        }
      }
      offset += channels;
    }
  }

  // v[point][slot + q][offset..offset + 4) for `count` (up to 4) tiles from `first` of 4-channel
  // source s (e1's input, e3's [x, r]): the tiles share one vector, so the transforms run on full
  // vectors rather than a quarter of one.
  static void transformQuad(const BlockArgs& a, int s, int offset, int first, int slot, int count, float* v) {
    const BlockSource& src = a.sources[s];
    long start[4];
    for (int q = 0; q < 4; ++q) {
      const TileSpan span = tileSpan(first + (q < count ? q : count - 1), a.dilation);
      start[q] = (span.base - span.step) * 4;
    }
    const long step = static_cast<long>(a.dilation) * 4;
    V x[kWinogradPoints][kWinogradPoints];  // [input row][x point]
    for (int r = 0; r < kBlockInputRows; ++r) {
      V d[kWinogradPoints];
      for (int i = 0; i < kWinogradPoints; ++i) {
        const float* p[4] = {src.rows[r] + start[0] + i * step, src.rows[r] + start[1] + i * step,
                             src.rows[r] + start[2] + i * step, src.rows[r] + start[3] + i * step};
        d[i] = Isa::loadQuad(p);
      }
      winogradInputTransform<Ops>(d, x[r]);
    }
    for (int px = 0; px < kWinogradPoints; ++px) {
      V d[kWinogradPoints], t[kWinogradPoints];
      for (int r = 0; r < kBlockInputRows; ++r) d[r] = x[r][px];
      winogradInputTransform<Ops>(d, t);
      for (int py = 0; py < kWinogradPoints; ++py) {
        Isa::storeQuad(v + (py * kWinogradPoints + px) * kVStride + slot * K + offset, K, t[py], count);
      }
    }
  }

  // The inverse transform of one tile, bias and activation, stores inside the row. The point at
  // (+1, +1) enters every output with weight 1 (A^T's column for the point 1 is all ones), so
  // the bias is added there once instead of to each of the 36 outputs.
  static void inverseTile(const BlockArgs& a, int tile, int slot, const float* m, V bias) {
    const TileSpan span = tileSpan(tile, a.dilation);
    V y[kWinogradOutputs][kWinogradPoints];  // [output row][x point]
    for (int px = 0; px < kWinogradPoints; ++px) {
      V mv[kWinogradPoints], o[kWinogradOutputs];
      for (int py = 0; py < kWinogradPoints; ++py) {
        mv[py] = Isa::loadFull(m + (py * kWinogradPoints + px) * kMStride + slot * kLanes);
      }
      if (px == 1) mv[1] = Ops::add(mv[1], bias);
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
        Isa::storeFull(a.out[j] + x * kLanes, Isa::leaky(o[i]));
      }
    }
  }

  // m[point][tiles][16] = v[point][tiles][K] x u[point][K][16] for the 64 points of a chunk of n
  // tiles, in register blocks of G tiles; a point's weights (1 to 2 KiB) stay in L1 across its
  // blocks. Each block asks for the lines of the block after it (the next tiles of v, or the next
  // point's v and weights) while it runs: a block starts on lines that are in L2, not L1.
  static void gemmChunk(const float* v, const float* u, float* m, int n) {
    constexpr int G = Isa::kGemmTiles;
    for (int point = 0; point < kPoints2d; ++point) {
      const float* vp = v + point * kVStride;
      const float* up = u + static_cast<long>(point) * K * kLanes;
      float* mp = m + point * kMStride;
      // The block after a point's last full one is the next point's first; after the chunk's
      // last, the block itself is named (its lines are in L1 already).
      const NextGemmBlock nextPoint = point + 1 < kPoints2d ? NextGemmBlock{vp + kVStride, up + K * kLanes}
                                                            : NextGemmBlock{vp, nullptr};
      int p = 0;
      for (; p + G <= n; p += G) {
        const NextGemmBlock next = p + 2 * G <= n ? NextGemmBlock{vp + (p + G) * K, nullptr} : nextPoint;
        Isa::template gemm<G, K>(vp + p * K, up, mp + p * kLanes, &next);
      }
      if (p < n) gemmRemainder(vp + p * K, up, mp + p * kLanes, n - p);
    }
  }

  template <int r = Isa::kGemmTiles - 1>
  static void gemmRemainder(const float* v, const float* u, float* m, int count) {
    if constexpr (r > 0) {
      if (count == r) return Isa::template gemm<r, K>(v, u, m);
      gemmRemainder<r - 1>(v, u, m, count);
    }
  }

  // n (1..N) tiles from `first`: transforms, the 64 points' GEMMs, inverse transforms.
  static void chunk(const BlockArgs& a, int first, int n, float* v, float* m, ColumnCache& cache) {
    for (int p = 0; p < n; ++p) transformTile(a, first + p, p, v, cache);
    int offset = 0;
    for (int s = 0; s < a.sourceCount; offset += a.sources[s].channels, ++s) {
      if (a.sources[s].channels == kLanes) continue;
      for (int p = 0; p < n; p += 4) transformQuad(a, s, offset, first + p, p, n - p < 4 ? n - p : 4, v);
    }
    gemmChunk(v, a.weights, m, n);
    const V bias = Isa::loadFull(a.bias);
    for (int p = 0; p < n; ++p) inverseTile(a, first + p, p, m, bias);
  }

  static void run(const BlockArgs& a, float* scratch) {
    float* v = scratch;
    float* m = scratch + kPoints2d * kVStride;
    const int tiles = tileCount(a.count, a.dilation);
    ColumnCache cache;
    cache.reset();
    for (int tile = 0; tile < tiles; tile += N) chunk(a, tile, tiles - tile < N ? tiles - tile : N, v, m, cache);
  }
};

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
