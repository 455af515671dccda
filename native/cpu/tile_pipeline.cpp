#include "tile_pipeline.h"

#include <algorithm>

#include "core/backend.h"
#include "core/error.h"
#include "local_schedule.h"
#include "stage_plan.h"
#include "input_rows.h"
#include "winograd.h"

namespace flwnet::cpu {
namespace {

constexpr const char* kOverrun = "row ring overrun in the CPU tile schedule";

// Rings, their channels and which rings each layer reads: local_schedule.h (from the graph).
// Rows each ring must hold for the lag between its producer and its last consumer in the
// one-row-per-stage-per-pass schedule below (e.g. x3 feeds e4 at distance 2 and e6 five rows
// later), plus one; reads verify the row tag, so a wrong capacity fails loudly, not silently.
constexpr std::array<int, kRingCount> kRingCapacity = {4, 6, 4, 4, 8, 6, 4, 4};

// Extra columns after the right halo, read (never used) by a row's last Winograd tiles.
constexpr int kReadSlack = kWinogradReadSlack;

}  // namespace

void planTiles(int width, int height, int maxStripWidth, std::vector<Tile>& tiles) {
  // The plan depends on the image size only, never on the thread count: a tile's Winograd tiles
  // start at its own left edge and its halo is recomputed, so moving a cut changes the rounding
  // of the pixels near it, and the output must not depend on the machine. Strips as wide as the
  // cache allows; bands so that there are at least kMinTiles tiles for the threads to share (a
  // band cut recomputes a halo of about 8 rows along the width: 1.5% at 1920x1080 in 2 bands).
  constexpr int kMinTiles = 8;
  constexpr int kMinBandRows = 64;
  const int strips = std::max(1, std::min((width + maxStripWidth - 1) / maxStripWidth, std::max(1, width / 16)));
  const int bands = std::max(1, std::min((kMinTiles + strips - 1) / strips, height / kMinBandRows));
  tiles.clear();
  for (int b = 0; b < bands; ++b) {
    const int y0 = static_cast<int>(static_cast<int64_t>(height) * b / bands);
    const int y1 = static_cast<int>(static_cast<int64_t>(height) * (b + 1) / bands);
    for (int s = 0; s < strips; ++s) {
      const int x0 = static_cast<int>(static_cast<int64_t>(width) * s / strips);
      const int x1 = static_cast<int>(static_cast<int64_t>(width) * (s + 1) / strips);
      tiles.push_back(Tile{x0, x1, y0, y1});
    }
  }
}

void TileWorker::prepare(int bufferWidth) {
  rings_.layout(kRingChannels, kRingCapacity, bufferWidth);
  const size_t rowFloats = static_cast<size_t>(bufferWidth) * kLanes;
  if (outRow_.size() < rowFloats) outRow_.resize(rowFloats);
}

const float* TileWorker::rowOf(int ring, int y, int height) const {
  return rings_.rowOf(ring, y, height, kOverrun);
}

void TileWorker::computePrep(const LocalRequest& request, const ConvKernels& kernels, int y, int c0, int c1) {
  const size_t offset = static_cast<size_t>(c0 - colBase_) * 4;
  prepareInputRow(request, kernels, blends_, y, c0, c1, rings_.rowFor(0, y) + offset, rings_.rowFor(1, y) + offset);
}

void TileWorker::computeConv(const PackedNetwork& net, const ConvKernels& kernels, int stage, int y, int height,
                             int c0, int c1) {
  const PackedConv& layer = net.layers[stage - 1];
  const StageInputs& in = kStageInputs[stage];
  ConvRowArgs args{};
  args.sourceCount = in.count;
  args.dilation = layer.dilation;
  for (int s = 0; s < in.count; ++s) {
    const int ring = in.inputs[s].ring;
    const int d = in.inputs[s].dilation;
    const int channels = kRingChannels[ring];
    args.sources[s].channels = channels;
    for (int ky = 0; ky < 3; ++ky) {
      args.sources[s].rows[ky] = rowOf(ring, y + (ky - 1) * d, height) + static_cast<size_t>(c0 - colBase_) * channels;
    }
  }
  const bool winograd = kernels.winograd != nullptr && !layer.winograd.empty();
  args.weights = winograd ? layer.winograd.data() : layer.weights.data();
  args.bias = layer.bias.data();
  args.out = rings_.rowFor(stage + 1, y) + static_cast<size_t>(c0 - colBase_) * kLanes;
  args.count = c1 - c0;
  args.outputLanes = kLanes;
  args.leaky = true;
  (winograd ? kernels.winograd : kernels.direct)(args);
}

void TileWorker::computeOutput(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request,
                               int y) {
  computeOutputRow(net, kernels, request, y, rings_, kOverrun, tile_.x0, tile_.x1, colBase_, outRow_.data());
}

void TileWorker::run(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request,
                     const Tile& tile) {
  const int width = request.image.width;
  const int height = request.image.height;
  tile_ = tile;
  colBase_ = tile.x0 - kHalo;
  blends_.reset();
  prepare(tile.x1 - tile.x0 + 2 * kHalo + kReadSlack);
  std::array<int, kStageCount> next{}, rowEnd{}, colBegin{}, colEnd{};
  for (int s = 0; s < kStageCount; ++s) {
    next[s] = std::max(0, tile.y0 - kStageRadius[s]);
    rowEnd[s] = std::min(height, tile.y1 + kStageRadius[s]);
    colBegin[s] = std::max(0, tile.x0 - kStageRadius[s]);
    colEnd[s] = std::min(width, tile.x1 + kStageRadius[s]);
  }
  // Each pass lets every stage produce at most one row, as soon as the rows it reads exist; the
  // distance between stages therefore settles to the lags the ring capacities are sized for.
  while (next[kStageCount - 1] < rowEnd[kStageCount - 1]) {
    for (int s = 0; s < kStageCount; ++s) {
      const int y = next[s];
      if (y >= rowEnd[s]) continue;
      bool ready = true;
      for (int i = 0; i < kStageInputs[s].count; ++i) {
        const StageInput& input = kStageInputs[s].inputs[i];
        ready = ready && next[producerOf(input.ring)] > std::min(y + input.dilation, height - 1);
      }
      if (!ready) continue;
      if (s == 0) {
        computePrep(request, kernels, y, colBegin[s], colEnd[s]);
      } else if (s < kStageCount - 1) {
        computeConv(net, kernels, s, y, height, colBegin[s], colEnd[s]);
      } else {
        Backend::throwIfCancelled(request.cancel);
        computeOutput(net, kernels, request, y);
      }
      ++next[s];
    }
  }
}

}  // namespace flwnet::cpu
