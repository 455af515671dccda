// The FLW-Net graph, stated once: which tensors each layer reads, in which order, with which
// dilation and activation. Every schedule (CPU strips, CUDA kernels, cuDNN, the trainer's forward
// and backward) derives its wiring from these tables or checks itself against them at start-up, so
// a change to the network is made here and nowhere else. See docs/numerics.md for the numerics.
#pragma once
#include <array>
#include <cstdint>

namespace flwnet {

// Tensors of the local branch. The first four are derived from the input image by the global
// branch and the coarse brightness; X1..X7 are the outputs of e1..e7.
enum class Tensor : uint8_t {
  ImageMinusHalfCoarse,  // x - Vc/2, 3 channels
  HalfCoarse,            // Vc/2, 1 channel
  Image,                 // x = pixel / 255, 3 channels
  Retouched,             // r: the 7-step curve applied to V, 1 channel
  X1, X2, X3, X4, X5, X6, X7,
};
constexpr int kTensorCount = 11;

constexpr int tensorChannels(Tensor t) {
  switch (t) {
    case Tensor::ImageMinusHalfCoarse: return 3;
    case Tensor::HalfCoarse: return 1;
    case Tensor::Image: return 3;
    case Tensor::Retouched: return 1;
    case Tensor::X7: return 6;
    default: return 16;
  }
}

enum class Activation : uint8_t { LeakyRelu, Softplus, None };

constexpr int kMaxLayerInputs = 3;

// One 3x3 convolution (zero padding = dilation, stride 1) over the channel concatenation of
// `inputs[0..inputCount)`, in that order, followed by `activation`.
struct ConvLayer {
  const char* name;  // state-dict prefix
  std::array<Tensor, kMaxLayerInputs> inputs;
  int inputCount;
  int cin;
  int cout;
  int dilation;
  Activation activation;
  Tensor output;
};

constexpr std::array<ConvLayer, 7> kLocalGraph = {{
    {"e_conv1", {Tensor::ImageMinusHalfCoarse, Tensor::HalfCoarse, Tensor::X1}, 2, 4, 16, 1,
     Activation::LeakyRelu, Tensor::X1},
    {"e_conv2", {Tensor::X1, Tensor::X1, Tensor::X1}, 1, 16, 16, 1, Activation::LeakyRelu, Tensor::X2},
    {"e_conv3", {Tensor::X2, Tensor::Image, Tensor::Retouched}, 3, 20, 16, 1, Activation::LeakyRelu,
     Tensor::X3},
    {"e_conv4", {Tensor::X3, Tensor::X3, Tensor::X3}, 1, 16, 16, 2, Activation::LeakyRelu, Tensor::X4},
    {"e_conv5", {Tensor::X4, Tensor::X4, Tensor::X4}, 1, 16, 16, 2, Activation::LeakyRelu, Tensor::X5},
    {"e_conv6", {Tensor::X3, Tensor::X5, Tensor::X5}, 2, 32, 16, 1, Activation::LeakyRelu, Tensor::X6},
    {"e_conv7", {Tensor::X6, Tensor::X6, Tensor::X6}, 1, 16, 6, 1, Activation::Softplus, Tensor::X7},
}};

// Channels of X7 that form the enhanced image (the rest estimate illumination and are not output).
constexpr int kEnhancedChannels = 3;

// Inputs of the global branch's dense layers: the previous layer's output and/or the 15 features.
enum class DenseInput : uint8_t { Features, Previous, PreviousThenFeatures };

struct DenseLayer {
  const char* name;
  DenseInput input;
  int cin;
  int cout;
  Activation activation;  // LeakyReLU after every layer, the last included
};

constexpr std::array<DenseLayer, 5> kGlobalGraph = {{
    {"g_conv1", DenseInput::Features, 15, 16, Activation::LeakyRelu},
    {"g_conv2", DenseInput::Previous, 16, 16, Activation::LeakyRelu},
    {"g_conv3", DenseInput::PreviousThenFeatures, 31, 16, Activation::LeakyRelu},
    {"g_conv4", DenseInput::Previous, 16, 16, Activation::LeakyRelu},
    {"g_conv5", DenseInput::Previous, 16, 7, Activation::LeakyRelu},
}};

// Compile-time consistency: each layer's cin is the sum of its inputs' channels, and each layer
// reads only tensors that exist before it.
constexpr bool localGraphIsConsistent() {
  for (int l = 0; l < int(kLocalGraph.size()); ++l) {
    const ConvLayer& layer = kLocalGraph[l];
    int cin = 0;
    for (int i = 0; i < layer.inputCount; ++i) {
      const Tensor t = layer.inputs[i];
      if (int(t) >= int(Tensor::X1) && int(t) >= int(layer.output)) return false;
      cin += tensorChannels(t);
    }
    if (cin != layer.cin || tensorChannels(layer.output) != layer.cout) return false;
    if (int(layer.output) != int(Tensor::X1) + l) return false;
  }
  return true;
}
static_assert(localGraphIsConsistent(), "kLocalGraph: channel counts or tensor order are inconsistent");

// Offset of input `k` of `layer` within its concatenated input channels.
constexpr int inputChannelOffset(const ConvLayer& layer, int k) {
  int offset = 0;
  for (int i = 0; i < k; ++i) offset += tensorChannels(layer.inputs[i]);
  return offset;
}

}  // namespace flwnet
