// The streaming schedule of the local branch on the CPU. The image is cut into tiles (a column
// strip by a band of rows); a tile is processed row by row, each layer keeping only the few rows
// of its output that the next layers still need in a ring buffer. Tiles overlap their neighbours
// by the receptive-field radius (9 pixels), recomputed on both sides, so tiles are independent
// and nothing of a full-image size is ever allocated.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "conv_kernels.h"
#include "coarse_row_blends.h"
#include "core/coarse_brightness.h"
#include "core/image.h"
#include "packed_network.h"
#include "row_rings.h"

namespace flwnet::cpu {

// Everything a tile needs to know about the request it belongs to.
struct LocalRequest {
  ImageU8 image;
  const CoarseBrightness* coarse = nullptr;
  std::array<float, kLevels> retouch{};  // r for each V level
  OutputKind outputKind = OutputKind::U8;
  void* output = nullptr;
  const std::atomic<int32_t>* cancel = nullptr;
};

struct Tile {
  int x0, x1;  // output columns [x0, x1)
  int y0, y1;  // output rows [y0, y1)
};

// Splits an image into tiles: strips no wider than maxStripWidth, cut into bands so that there
// are enough tiles to share among threads. The plan depends on the image size only, so the output
// is bit-identical for every thread count. Replaces the contents of `tiles` (reusing its storage).
void planTiles(int width, int height, int maxStripWidth, std::vector<Tile>& tiles);

// Per-thread scratch: the row rings of one tile. Allocated once per worker and grown only when
// a wider tile arrives.
class TileWorker {
 public:
  // Throws Error(Cancelled) when the request's cancel flag is raised (polled once per row).
  void run(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request, const Tile& tile);

 private:

  void prepare(int bufferWidth);
  const float* rowOf(int ring, int y, int height) const;
  void computePrep(const LocalRequest& request, const ConvKernels& kernels, int y, int c0, int c1);
  void computeConv(const PackedNetwork& net, const ConvKernels& kernels, int stage, int y, int height, int c0, int c1);
  void computeOutput(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request, int y);

  RowRings<8> rings_;
  std::vector<float> outRow_;
  CoarseRowBlends blends_;
  int colBase_ = 0;  // image column of buffer pixel 0
  Tile tile_{};
};

}  // namespace flwnet::cpu
