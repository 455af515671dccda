// The local branch's weights rearranged for the CPU kernels (see conv_kernels.h): per input
// source, then [ky][kx][ci][16 output channels], e7's 6 outputs padded with zeros to 16; and for
// e1..e6 also in the Winograd domain (winograd.h), and e7's first three outputs output-major
// for the narrow kernels (conv_kernels.h).
#pragma once
#include <array>
#include <vector>

#include "conv_kernels.h"
#include "core/model.h"

namespace flwnet::cpu {

struct PackedConv {
  std::vector<float> weights;
  std::vector<float> winograd;     // e1..e6 only; empty for e7
  std::vector<float> outputMajor;  // e7 only: [co][ky][kx][ci] for its first kNarrowOutputs outputs
  std::array<float, kLanes> bias{};
  int dilation = 1;
};

struct PackedNetwork {
  std::array<PackedConv, kConvLayers> layers;
};

PackedNetwork packNetwork(const ModelWeights& weights);

}  // namespace flwnet::cpu
