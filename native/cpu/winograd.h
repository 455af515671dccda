// Winograd F(6,3) along image rows for the 16-output layers e1..e6. A 3x3 convolution is the sum
// over its three kernel rows of 1-D convolutions along x; each 1-D convolution is computed per
// tile of 6 outputs from 8 inputs as A^T [(G g) . (B^T d)] (interpolation points 0, +-1, +-2,
// +-1/2, infinity): 8 multiplies where the direct form needs 18, so those layers' multiply count
// drops 2.25 times while the engine's row-at-a-time schedule (tile_pipeline.h) stays as it is.
// The three kernel rows and the input channels of all sources form the reduction dimension K
// (3 x input channels) of 8 small GEMMs [tiles x K] x [K x 16], one per point.
// F(4,3) was measured first: 6 multiplies per 4 outputs, about 10% slower overall, with fixture
// errors no smaller (both ~1e-6 against the float64 fixtures, like the direct kernels).
#pragma once
#include <array>
#include <vector>

#include "conv_kernels.h"

namespace flwnet::cpu {

constexpr int kWinogradOutputs = 6;  // outputs per tile
constexpr int kWinogradPoints = 8;   // inputs per tile = transformed values per tile
// Pixels beyond a row's last output that a tile may read: the last tile of a dilation-2 row
// (an odd-column tile starting one past the last output) reaches 13 pixels further.
constexpr int kWinogradReadSlack = 13;

// G of F(6,3) with interpolation points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (the order of
// B^T's rows in winograd_transforms.h): the weight transform of the row kernels (G g) and of the
// block kernels (G g G^T, winograd2d.h).
constexpr std::array<std::array<double, 3>, kWinogradPoints> kWinogradG = {{
    {1.0, 0.0, 0.0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45},
    {32.0 / 45, -16.0 / 45, 8.0 / 45},
    {0.0, 0.0, 1.0},
}};

// Where a row's tile lies: its first output pixel and the distance between its outputs.
struct TileSpan {
  long base;
  long step;  // the dilation
};

// Internal linkage: each instruction set's translation unit keeps its own copy (see output_row.h).
namespace {

// Dilation 2 splits a row into its even and odd columns, each an undilated convolution, so
// tiles come in pairs that together cover 12 consecutive pixels.
inline TileSpan tileSpan(int tile, int dilation) {
  if (dilation == 1) return {6L * tile, 1};
  return {12L * (tile >> 1) + (tile & 1), 2};
}

inline int tileCount(int count, int dilation) { return dilation == 1 ? (count + 5) / 6 : 2 * ((count + 11) / 12); }

}  // namespace

// The weights of one layer in the transformed domain, [point][source][ky][ci][16 outputs], from
// the direct packing ([source][ky][kx][ci][16], see packed_network.h). Computed in double.
std::vector<float> winogradWeights(const std::vector<float>& direct, const int* sourceChannels, int sourceCount);

// Same contract as ConvRowKernel, except that args.weights holds winogradWeights() and the rows
// must stay readable kWinogradReadSlack pixels past args.count (their values there do not matter
// as long as they are finite). Supports 16 outputs and K of 12, 48, 60 or 96 (e1..e6).
void winogradRowAvx512(const ConvRowArgs& args);
void winogradRowAvx2(const ConvRowArgs& args);

}  // namespace flwnet::cpu
