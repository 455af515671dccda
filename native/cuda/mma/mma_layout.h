// Index functions of the mma.sync local-branch kernel (local_mma.cu), in plain C++ so that the
// device code and the host emulation (test/native/mma_emulation.cpp) share one definition of:
//   - the streaming schedule: strip geometry, rows per step, each layer's lag and ring depth;
//   - the ring layout in shared memory: channels-last fp16 rows, 32 bytes a pixel, with an XOR
//     swizzle of the two 16-byte halves that makes every ldmatrix/stmatrix phase conflict-free;
//   - the fragment ownership of mma.m16n8k16 (.f16 inputs, .f32 accumulators) and of ldmatrix .x4,
//     as the PTX ISA states them (groupID = lane / 4, threadID_in_group = lane % 4);
//   - the packed weight order: each lane's B fragments of one tap, both halves of N, in one uint4.
// No CUDA types here: only constexpr integer functions.
#pragma once
#include "core/network_graph.h"

namespace flwnet::mma {

// ---- Schedule ---------------------------------------------------------------------------------
constexpr int kHalo = 9;                        // receptive field of e1..e7
constexpr int kStripColumns = 64;               // frame columns a block holds (4 M tiles of 16)
constexpr int kOutColumns = kStripColumns - 2 * kHalo;  // 46 output columns per strip
constexpr int kColumnTiles = kStripColumns / 16;
constexpr int kStepRows = 4;                    // rows each layer advances per step
constexpr int kWarps = 8;
constexpr int kThreads = kWarps * 32;
constexpr int kTilesPerStep = kStepRows * kColumnTiles;  // M tiles of one layer in one step
constexpr int kTilesPerWarp = kTilesPerStep / kWarps;
static_assert(kTilesPerStep % kWarps == 0, "a layer's tiles must split evenly over the warps");
static_assert(kWarps % kColumnTiles == 0, "a warp keeps one column tile over its rows");
constexpr int kChannels = 16;                   // fp16 channels per ring pixel (32 bytes)
constexpr int kLayers = static_cast<int>(kLocalGraph.size());

// Dilation of layer k (1..7), from the network graph.
constexpr int dilationOf(int k) { return kLocalGraph[k - 1].dilation; }
// Rows by which layer k's output trails the staged input (0 = staging): its vertical receptive
// field, the sum of the dilations up to k; also the columns of halo it is valid from.
constexpr int lagOf(int k) { return k == 0 ? 0 : lagOf(k - 1) + dilationOf(k); }
static_assert(lagOf(kLayers) == kHalo, "the halo must be e1..e7's receptive field");

// Rings: 0 staging ([x - Vc/2, Vc/2] in channels 0..3, [x, r] in 4..7, zeros in 8..15), then
// x1..x6. A consumer k reading ring j with dilation d, in the step where j has just written its
// newest kStepRows rows, reaches back kStepRows + lag(k) + d - lag(j) rows.
constexpr int reach(int j, int k) { return kStepRows + lagOf(k) + dilationOf(k) - lagOf(j); }
constexpr int larger(int a, int b) { return a > b ? a : b; }
// Which rings layer k reads, from the graph: ring index of each input tensor.
constexpr int ringOfTensor(Tensor t) { return int(t) < int(Tensor::X1) ? 0 : int(t) - int(Tensor::X1) + 1; }
constexpr int ringDepthOf(int j) {
  int depth = 0;
  for (int k = 1; k <= kLayers; ++k)
    for (int i = 0; i < kLocalGraph[k - 1].inputCount; ++i)
      if (ringOfTensor(kLocalGraph[k - 1].inputs[i]) == j) depth = larger(depth, reach(j, k));
  return depth;
}
constexpr int ringFirstRowOf(int j) { return j == 0 ? 0 : ringFirstRowOf(j - 1) + ringDepthOf(j - 1); }
constexpr int kRingRows = ringFirstRowOf(kLayers);  // rings 0..6 (e7 writes the image)
constexpr int kRowBytes = kStripColumns * kChannels * 2;
constexpr int kSharedBytes = kRingRows * kRowBytes;
static_assert(ringDepthOf(kLayers) == 0, "nothing reads e7's output from a ring");

constexpr int wrapRow(int y, int depth) { return (y % depth + depth) % depth; }

// ---- Ring layout and swizzle --------------------------------------------------------------------
// A pixel's 32 bytes are two 16-byte chunks (channels 0..7 and 8..15). Chunk c of column x lies at
// physical chunk c ^ bit 2 of x: eight consecutive columns (one ldmatrix phase, any start) then
// cover the 32 banks exactly once (bank = 8 (x mod 4) + 4 physical chunk + word).
constexpr int swizzledChunk(int column, int chunk) { return chunk ^ ((column >> 2) & 1); }
// Byte offset in the block's shared memory of (ring row, column, chunk); ringRow counts from the
// start of all rings (ringFirstRowOf(j) + wrapRow(y, depth)).
constexpr int chunkByteOffset(int ringRow, int column, int chunk) {
  return (ringRow * kStripColumns + column) * kChannels * 2 + swizzledChunk(column, chunk) * 16;
}
constexpr int bankOf(int byteOffset) { return (byteOffset / 4) % 32; }

// ---- Fragments of mma.m16n8k16 (PTX ISA, "Matrix Fragments for mma.m16n8k16") ---------------------
struct Element {
  int row;
  int col;
};
constexpr int groupOf(int lane) { return lane >> 2; }
constexpr int threadInGroup(int lane) { return lane & 3; }
// A (16 x 16, row major), element i = 0..7 of a lane (two halves per .b32 register a0..a3).
constexpr Element aElement(int lane, int i) {
  return {groupOf(lane) + ((i >> 1) & 1) * 8, threadInGroup(lane) * 2 + (i & 1) + (i >> 2) * 8};
}
// B (16 x 8, "col"), element i = 0..3 (registers b0, b1): row = k, col = n.
constexpr Element bElement(int lane, int i) {
  return {threadInGroup(lane) * 2 + (i & 1) + (i >> 1) * 8, groupOf(lane)};
}
// C/D (16 x 8, fp32), element i = 0..3.
constexpr Element cElement(int lane, int i) {
  return {groupOf(lane) + (i >> 1) * 8, threadInGroup(lane) * 2 + (i & 1)};
}

// ---- ldmatrix / stmatrix .x4 (b16) ------------------------------------------------------------------
// Lane l gives the address of row l % 8 of matrix l / 8; from matrix m each lane receives (or, for
// stmatrix, supplies) register m holding row lane / 4, columns 2 (lane % 4) + {0, 1}.
constexpr int addressMatrix(int lane) { return lane >> 3; }
constexpr int addressRow(int lane) { return lane & 7; }
constexpr Element matrixElement(int lane, int j) { return {lane >> 2, (lane & 3) * 2 + j}; }
// The four matrices of a 16-pixel x 16-channel A tile, in A register order: matrix m covers pixels
// 8 (m & 1) .. + 7 and channel chunk m >> 1. The same order maps a pair of 16 x 8 accumulators
// (N halves 0, 1) onto stmatrix registers.
constexpr int tilePixelOfMatrixRow(int matrix, int row) { return (matrix & 1) * 8 + row; }
constexpr int tileChunkOfMatrix(int matrix) { return matrix >> 1; }

// ---- Packed weights -----------------------------------------------------------------------------------
// Weight groups: one per (layer, ring it reads), in layer order. kBegin is the ring channel where
// the layer's input starts (e3 reads [x, r] from staging channels 4..7), cinBegin the layer's input
// channel it corresponds to, cin how many channels.
struct WeightGroup {
  int layer;  // 1..7
  int ring;
  int kBegin;
  int cinBegin;
  int cin;
};
constexpr int kWeightGroups = 9;
constexpr WeightGroup kGroups[kWeightGroups] = {
    {1, 0, 0, 0, 4},   {2, 1, 0, 0, 16},  {3, 2, 0, 0, 16}, {3, 0, 4, 16, 4}, {4, 3, 0, 0, 16},
    {5, 4, 0, 0, 16},  {6, 3, 0, 0, 16},  {6, 5, 0, 16, 16}, {7, 6, 0, 0, 16},
};
// First group of layer k and how many it has.
constexpr int firstGroupOf(int k) {
  int g = 0;
  while (kGroups[g].layer != k) ++g;
  return g;
}
constexpr int groupCountOf(int k) {
  int n = 0;
  for (const WeightGroup& g : kGroups) n += g.layer == k ? 1 : 0;
  return n;
}
// Halves per (group, tap): 32 lanes x 2 N halves x 4 B elements; one uint4 per lane.
constexpr int kTapHalves = 32 * 8;
constexpr int kPackedHalves = kWeightGroups * 9 * kTapHalves;
constexpr int packedIndex(int group, int tap, int lane, int nHalf, int i) {
  return ((group * 9 + tap) * 32 + lane) * 8 + nHalf * 4 + i;
}

// Compile-time checks of the graph the groups describe.
constexpr bool groupsMatchGraph() {
  for (int k = 1; k <= kLayers; ++k) {
    const ConvLayer& layer = kLocalGraph[k - 1];
    int cin = 0;
    for (int g = firstGroupOf(k); g < firstGroupOf(k) + groupCountOf(k); ++g) {
      if (kGroups[g].cinBegin != cin || kGroups[g].kBegin + kGroups[g].cin > kChannels) return false;
      cin += kGroups[g].cin;
    }
    if (cin != layer.cin || layer.cout > kChannels) return false;
    for (int i = 0; i < layer.inputCount; ++i) {
      const int ring = ringOfTensor(layer.inputs[i]);
      bool found = false;
      for (int g = firstGroupOf(k); g < firstGroupOf(k) + groupCountOf(k); ++g) found |= kGroups[g].ring == ring;
      if (!found) return false;
    }
  }
  return true;
}
static_assert(groupsMatchGraph(), "mma weight groups disagree with the network graph");

}  // namespace flwnet::mma
