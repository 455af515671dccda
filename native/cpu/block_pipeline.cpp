#include "block_pipeline.h"

#include <algorithm>

#include "core/error.h"
#include "input_rows.h"
#include "stage_plan.h"
#include "winograd.h"

namespace flwnet::cpu {
namespace {

constexpr const char* kOverrun = "row ring overrun in the CPU block schedule";

// Rows a stage produces per step: one for the input and the output stages, a block for e1..e6.
int stageRows(int stage) {
  if (stage == 0 || stage == 7) return 1;
  return kBlockRows * kStageInputs[stage].inputs[0].dilation;
}

// Where the step of `stage` that starts at row y ends. Blocks of e1..e6 end on rows congruent to
// the stage's radius, so each block's last row is the last one its consumer's next block needs:
// a layer then reads six of its eight input rows right after the layer before wrote them, while
// they are still in L2 (with blocks on a common grid it read them a full round of every layer
// later). The grid is fixed in image rows, so the split of rows into blocks, and with it the
// arithmetic, depends on the image size only. The first step of a band may be a partial block.
int stepEnd(int stage, int y, int rowEnd) {
  const int rows = stageRows(stage);
  if (rows == 1) return std::min(y + rows, rowEnd);
  const int toGrid = ((kStageRadius[stage] - y) % rows + rows) % rows;
  return std::min(y + (toGrid == 0 ? rows : toGrid), rowEnd);
}

}  // namespace

BlockNetwork packBlockNetwork(const PackedNetwork& net) {
  BlockNetwork blocks;
  for (int layer = 0; layer + 1 < kConvLayers; ++layer) {
    const StageInputs& in = kStageInputs[layer + 1];
    FLWNET_CHECK(net.layers[layer].dilation == in.inputs[0].dilation, "block schedule does not match the graph");
    int channels[2] = {0, 0};
    for (int s = 0; s < in.count; ++s) channels[s] = kRingChannels[in.inputs[s].ring];
    blocks.weights[layer] = winograd2dWeights(net.layers[layer].weights, channels, in.count);
  }
  return blocks;
}

BlockKernel blockKernelFor(const IsaChoice& isa, CpuKernel requested) {
  if (requested == CpuKernel::RowWinograd || isa.kernels.winograd == nullptr || isa.kernels.narrow == nullptr) {
    return nullptr;
  }
  switch (isa.isa) {
    case CpuIsa::Avx512: return winograd2dBlockAvx512;
    case CpuIsa::Avx2: return winograd2dBlockAvx2;
    case CpuIsa::Scalar: break;
  }
  return nullptr;
}

BlockWorker::Progress BlockWorker::startOf(const Tile& tile, int width, int height) const {
  Progress p{};
  for (int s = 0; s < kStages; ++s) {
    p.next[s] = std::max(0, tile.y0 - kStageRadius[s]);
    p.rowEnd[s] = std::min(height, tile.y1 + kStageRadius[s]);
    p.colBegin[s] = std::max(0, tile.x0 - kStageRadius[s]);
    p.colEnd[s] = std::min(width, tile.x1 + kStageRadius[s]);
  }
  return p;
}

// Each round runs one step of rows of the last stage whose inputs exist, so a layer computes rows
// only once the layers after it have used up what they could, and rows are read soon after they
// are written. With the blocks on their stages' grids (stepEnd) the rings hold about 1.7 MB for a
// 320-column strip (2.7 MB with every stage's blocks on one grid, 3.9 MB when every ready stage
// steps each round). step(stage, first row, end row) does the work (or only the bookkeeping).
template <class Step>
void BlockWorker::schedule(Progress& p, int height, Step step) const {
  while (p.next[kStages - 1] < p.rowEnd[kStages - 1]) {
    for (int s = kStages - 1; s >= 0; --s) {
      const int y = p.next[s];
      if (y >= p.rowEnd[s]) continue;
      const int end = stepEnd(s, y, p.rowEnd[s]);
      bool ready = true;
      for (int i = 0; i < kStageInputs[s].count; ++i) {
        const StageInput& input = kStageInputs[s].inputs[i];
        ready = ready && p.next[producerOf(input.ring)] > std::min(end - 1 + input.dilation, height - 1);
      }
      if (!ready) continue;
      step(s, y, end);
      p.next[s] = end;
      break;
    }
  }
}

void BlockWorker::prepare(const Tile& tile, int width, int height) {
  // Ring capacities from a dry run: after each step, a ring must hold every row from the first
  // one a consumer still reads to the last one written.
  std::array<int, kRings> capacity{};
  Progress dry = startOf(tile, width, height);
  schedule(dry, height, [&](int stage, int, int end) {
    for (int r = 0; r < kRings; ++r) {
      if (producerOf(r) != stage || (stage == 0 && r > 1)) continue;
      int oldest = end - 1;
      for (int c = 1; c < kStages; ++c) {
        if (dry.next[c] >= dry.rowEnd[c]) continue;
        for (int i = 0; i < kStageInputs[c].count; ++i) {
          if (kStageInputs[c].inputs[i].ring == r) oldest = std::min(oldest, dry.next[c] - kStageInputs[c].inputs[i].dilation);
        }
      }
      capacity[r] = std::max(capacity[r], end - std::max(oldest, 0));
    }
  });
  const int bufferWidth = tile.x1 - tile.x0 + 2 * kHalo + kWinogradReadSlack;
  rings_.layout(kRingChannels, capacity, bufferWidth);
  const size_t rowFloats = static_cast<size_t>(bufferWidth) * kLanes;
  if (outRow_.size() < rowFloats) outRow_.resize(rowFloats);
  if (scratch_.size() < static_cast<size_t>(kBlockScratchFloats) + kCacheLineFloats) {
    scratch_.resize(kBlockScratchFloats + kCacheLineFloats);
  }
}

const float* BlockWorker::rowOf(int ring, int y, int height) const {
  return rings_.rowOf(ring, y, height, kOverrun);
}

void BlockWorker::computePrep(const LocalRequest& request, const ConvKernels& kernels, int y, int c0, int c1) {
  const size_t offset = static_cast<size_t>(c0 - colBase_) * 4;
  prepareInputRow(request, kernels, blends_, y, c0, c1, rings_.rowFor(0, y) + offset, rings_.rowFor(1, y) + offset);
}

// Rows [y, end) of e1..e6: one block of 6 rows (both phases of a 12-row dilation-2 block) that
// ends at `end`; rows of the block before y (a band's first, partial block) are not kept.
void BlockWorker::computeBlock(const PackedNetwork& net, const BlockNetwork& blocks, BlockKernel block, int stage,
                               int y, int end, int height, int c0, int c1) {
  const StageInputs& in = kStageInputs[stage];
  const int d = in.inputs[0].dilation;
  FLWNET_CHECK(end - y <= kBlockRows * d, "a block step spans more than one block");
  float* scratch = cacheLineAligned(scratch_.data());
  const int first = end - kBlockRows * d;
  for (int phase = 0; phase < d; ++phase) {
    const int y0 = first + phase;
    BlockArgs args{};
    args.sourceCount = in.count;
    args.dilation = d;
    args.weights = blocks.weights[stage - 1].data();
    args.count = c1 - c0;
    args.scratch = scratch;
    int firstKept = kBlockRows, lastKept = -1;
    for (int j = 0; j < kBlockRows; ++j) {
      const int row = y0 + j * d;
      const bool kept = row >= y && row < end;
      args.out[j] = kept ? rings_.rowFor(stage + 1, row) + static_cast<size_t>(c0 - colBase_) * kLanes : nullptr;
      if (kept) firstKept = std::min(firstKept, j), lastKept = j;
    }
    if (lastKept < 0) continue;
    for (int s = 0; s < in.count; ++s) {
      const int ring = in.inputs[s].ring;
      const int channels = kRingChannels[ring];
      args.sources[s].channels = channels;
      for (int r = 0; r < kBlockInputRows; ++r) {
        // Input row r feeds output rows r - 2 .. r; rows no kept output reads are zeros.
        const int row = y0 + (r - 1) * d;
        const bool read = r - 2 <= lastKept && r >= firstKept;
        const float* data = read ? rowOf(ring, row, height) : rings_.zeroRow();
        args.sources[s].rows[r] = data + static_cast<size_t>(c0 - colBase_) * channels;
      }
    }
    args.bias = net.layers[stage - 1].bias.data();
    block(args);
  }
}

void BlockWorker::computeOutput(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request,
                                int y) {
  computeOutputRow(net, kernels, request, y, rings_, kOverrun, tile_.x0, tile_.x1, colBase_, outRow_.data());
}

void BlockWorker::run(const PackedNetwork& net, const BlockNetwork& blocks, const ConvKernels& kernels,
                      BlockKernel block, const LocalRequest& request, const Tile& tile) {
  FLWNET_CHECK(kernels.narrow != nullptr && block != nullptr, "the block schedule needs the vector kernels");
  const int width = request.image.width;
  const int height = request.image.height;
  tile_ = tile;
  colBase_ = tile.x0 - kHalo;
  blends_.reset();
  prepare(tile, width, height);
  Progress progress = startOf(tile, width, height);
  schedule(progress, height, [&](int stage, int y, int end) {
    const int c0 = progress.colBegin[stage], c1 = progress.colEnd[stage];
    if (stage == 0) {
      computePrep(request, kernels, y, c0, c1);
    } else if (stage < kStages - 1) {
      computeBlock(net, blocks, block, stage, y, end, height, c0, c1);
    } else {
      Backend::throwIfCancelled(request.cancel);
      computeOutput(net, kernels, request, y);
    }
  });
}

}  // namespace flwnet::cpu
