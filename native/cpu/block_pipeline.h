// The streaming schedule of the local branch for the 2-D Winograd kernel (winograd2d.h). Like
// tile_pipeline.h, a tile (column strip x band of rows) streams through per-layer row rings, but
// e1..e6 produce their rows in blocks (6 rows; 12 for the dilation-2 layers, as two phases of
// 6), the input preparation and e7 one row at a time. The rings are sized by running the same
// schedule once without arithmetic, so the capacities follow the block sizes and the lags they
// cause rather than hand-counted constants; reads still verify each row's tag.
#pragma once
#include <array>
#include <vector>

#include "conv_kernels.h"
#include "core/backend.h"
#include "isa.h"
#include "packed_network.h"
#include "row_rings.h"
#include "tile_pipeline.h"
#include "winograd2d.h"

namespace flwnet::cpu {

// The weights of e1..e6 in the 2-D transformed domain (winograd2dWeights), from the packing.
struct BlockNetwork {
  std::array<std::vector<float>, kConvLayers - 1> weights;
};
BlockNetwork packBlockNetwork(const PackedNetwork& net);

// The block kernel for the processor's kernels and the requested CpuKernel: nullptr (the row
// schedule) for CpuKernel::RowWinograd, or where e1..e6 run direct (scalar, FLWNET_CPU_WINOGRAD=0).
BlockKernel blockKernelFor(const IsaChoice& isa, CpuKernel requested);

class BlockWorker {
 public:
  // Throws Error(Cancelled) when the request's cancel flag is raised (polled once per output row).
  void run(const PackedNetwork& net, const BlockNetwork& blocks, const ConvKernels& kernels, BlockKernel block,
           const LocalRequest& request, const Tile& tile);

 private:
  static constexpr int kRings = 8;
  static constexpr int kStages = 8;
  struct Progress {
    std::array<int, kStages> next, rowEnd, colBegin, colEnd;
  };

  Progress startOf(const Tile& tile, int width, int height) const;
  template <class Step>
  void schedule(Progress& progress, int height, Step step) const;
  void prepare(const Tile& tile, int width, int height);
  const float* rowOf(int ring, int y, int height) const;
  void computePrep(const LocalRequest& request, const ConvKernels& kernels, int y, int c0, int c1);
  void computeBlock(const PackedNetwork& net, const BlockNetwork& blocks, BlockKernel block, int stage, int y, int end,
                    int height, int c0, int c1);
  void computeOutput(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request, int y);

  RowRings<kRings> rings_;
  std::vector<float> outRow_;
  CoarseRowBlends blends_;
  std::vector<float> scratch_;
  int colBase_ = 0;
  Tile tile_{};
};

}  // namespace flwnet::cpu
