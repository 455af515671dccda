// The local branch's weights rearranged for the CPU kernels (see conv_kernels.h): per input
// source, then [ky][kx][ci][16 output channels], e7's 6 outputs padded with zeros to 16.
#pragma once
#include <array>
#include <vector>

#include "conv_kernels.h"
#include "core/model.h"

namespace flwnet::cpu {

struct PackedConv {
  std::vector<float> weights;
  std::array<float, kLanes> bias{};
  int dilation = 1;
};

struct PackedNetwork {
  std::array<PackedConv, kConvLayers> layers;
};

PackedNetwork packNetwork(const ModelWeights& weights);

}  // namespace flwnet::cpu
