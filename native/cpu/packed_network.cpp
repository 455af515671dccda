#include "packed_network.h"

#include "core/error.h"
#include "local_schedule.h"
#include "winograd.h"

namespace flwnet::cpu {

// Channels of each source of a layer's input, in concatenation order (local_schedule.h), e.g.
// e3 = [x2 | x, r] -> {16, 4}; 0 where the layer has fewer sources.
static std::array<int, kMaxSources> sourceChannels(int layer) {
  const LayerSources sources = layerSources(layer);
  std::array<int, kMaxSources> channels{};
  for (int k = 0; k < sources.count; ++k) channels[k] = sources.sources[k].channels;
  return channels;
}

// e7's first kNarrowOutputs outputs as [co][ky][kx][ci] (PyTorch's [co][ci][ky][kx] reordered).
static std::vector<float> narrowWeights(const ConvWeights& conv) {
  const int cin = conv.spec.cin;
  std::vector<float> out(static_cast<size_t>(kNarrowOutputs) * 9 * cin);
  for (int co = 0; co < kNarrowOutputs; ++co) {
    for (int tap = 0; tap < 9; ++tap) {
      for (int ci = 0; ci < cin; ++ci) out[(co * 9 + tap) * cin + ci] = conv.weight[(co * cin + ci) * 9 + tap];
    }
  }
  return out;
}

PackedNetwork packNetwork(const ModelWeights& weights) {
  PackedNetwork net;
  for (int layer = 0; layer < kConvLayers; ++layer) {
    const ConvWeights& conv = weights.conv(layer);
    const ConvSpec& spec = conv.spec;
    const std::array<int, kMaxSources> split = sourceChannels(layer);
    FLWNET_CHECK(split[0] + split[1] == spec.cin, "source split mismatch");
    FLWNET_CHECK(spec.cout <= kLanes, "layer wider than the kernel lanes");
    PackedConv& packed = net.layers[layer];
    packed.dilation = spec.dilation;
    packed.weights.assign(static_cast<size_t>(9) * spec.cin * kLanes, 0.0f);
    float* dst = packed.weights.data();
    int sourceOffset = 0;
    for (int channels : split) {
      for (int tap = 0; tap < 9; ++tap) {
        for (int ci = 0; ci < channels; ++ci, dst += kLanes) {
          for (int co = 0; co < spec.cout; ++co) dst[co] = conv.weight[(co * spec.cin + sourceOffset + ci) * 9 + tap];
        }
      }
      sourceOffset += channels;
    }
    for (int co = 0; co < spec.cout; ++co) packed.bias[co] = conv.bias[co];
    if (layer == kConvLayers - 1) {
      packed.outputMajor = narrowWeights(conv);
    } else {
      const int sources = split[1] > 0 ? 2 : 1;
      packed.winograd = winogradWeights(packed.weights, split.data(), sources);
    }
  }
  return net;
}

}  // namespace flwnet::cpu
