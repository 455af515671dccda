#include "packed_network.h"

#include "core/error.h"
#include "winograd.h"

namespace flwnet::cpu {

// How each layer's input is concatenated (SPEC.md section 5): e3 = [x2 | x, r], e6 = [x3 | x5].
static const std::array<std::array<int, 2>, kConvLayers> kSourceChannels = {{
    {4, 0}, {16, 0}, {16, 4}, {16, 0}, {16, 0}, {16, 16}, {16, 0},
}};

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
    FLWNET_CHECK(kSourceChannels[layer][0] + kSourceChannels[layer][1] == spec.cin, "source split mismatch");
    FLWNET_CHECK(spec.cout <= kLanes, "layer wider than the kernel lanes");
    PackedConv& packed = net.layers[layer];
    packed.dilation = spec.dilation;
    packed.weights.assign(static_cast<size_t>(9) * spec.cin * kLanes, 0.0f);
    float* dst = packed.weights.data();
    int sourceOffset = 0;
    for (int channels : kSourceChannels[layer]) {
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
      const int sources = kSourceChannels[layer][1] > 0 ? 2 : 1;
      packed.winograd = winogradWeights(packed.weights, kSourceChannels[layer].data(), sources);
    }
  }
  return net;
}

}  // namespace flwnet::cpu
