// Winograd F(6x6, 3x3) for the 16-output layers e1..e6: the F(6,3) transforms of winograd.h applied
// along both axes, so one tile of 8x8 inputs gives 6x6 outputs from 64 products per channel pair
// where the direct form needs 324 (5.06x fewer multiplies; the row-wise F(6,3) saves 2.25x). The
// 64 points form 64 small GEMMs [tiles x Cin] x [Cin x 16], one per point, over the channels of
// all sources. The engine therefore produces a layer's rows six at a time (block_pipeline.h).
// Dilation 2 (e4, e5) is decomposed by phase: the even and the odd columns of a row, and the
// even and the odd rows of a 12-row block, are each an undilated convolution of the same-parity
// pixels, so a dilation-2 block is 12 rows in two calls of 6 rows each.
#pragma once
#include <vector>

#include "conv_kernels.h"

namespace flwnet::cpu {

constexpr int kBlockRows = 6;       // output rows per kernel call
constexpr int kBlockInputRows = 8;  // input rows per kernel call (spaced by the dilation)
constexpr int kPoints2d = 64;       // 8 x 8 transformed values per tile and channel

// One call: six output rows of a layer. Input row r (0..7) of a source is the image row
// y0 + (r - 1) * dilation, where output row j is y0 + j * dilation; each pointer addresses the
// pixel of output column 0 and stays readable kWinogradReadSlack pixels past `count`.
struct BlockSource {
  const float* rows[kBlockInputRows];
  int channels;  // 4 or 16
};

struct BlockArgs {
  BlockSource sources[2];
  int sourceCount;
  int dilation;           // along the rows (columns are handled as in winograd.h)
  const float* weights;   // winograd2dWeights(): [point][K][16]
  const float* bias;      // kLanes values
  float* out[kBlockRows]; // output rows (kLanes floats per pixel); nullptr: not wanted
  int count;              // output pixels per row
  float* scratch;         // kBlockScratchFloats floats, 64-byte aligned, owned by the calling thread
};

constexpr int kMaxBlockReduction = 32;  // input channels of the widest layer (e6)
constexpr int kMaxBlockChunk = 24;      // tiles per chunk of the kernels (Isa::kChunk)
// Floats added to each point's slice of the scratch buffers: without them a tile's 8 points along
// y lie 4 KiB apart and map to one L1 set, and the transforms' stores and the inverse's loads
// evict each other.
constexpr int kPointPad = 16;

// Floats of scratch a kernel with chunks of `chunk` tiles needs: v[64][chunk][K] and m[64][chunk][16].
constexpr long blockScratchFloats(int chunk) {
  return static_cast<long>(kPoints2d) * (chunk * (kMaxBlockReduction + kLanes) + 2 * kPointPad);
}
constexpr long kBlockScratchFloats = blockScratchFloats(kMaxBlockChunk);

using BlockKernel = void (*)(const BlockArgs& args);

// The weights of one layer in the 2-D transformed domain, [point = 8 py + px][K][16] with K the
// channels of all sources in order, from the direct packing ([source][ky][kx][ci][16]).
// Computed in double.
std::vector<float> winograd2dWeights(const std::vector<float>& direct, const int* sourceChannels, int sourceCount);

void winograd2dBlockAvx512(const BlockArgs& args);
void winograd2dBlockAvx2(const BlockArgs& args);

}  // namespace flwnet::cpu
