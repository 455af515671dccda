// The FLW-Net architecture's shapes (docs/numerics.md §3 and §6), derived from the graph in
// network_graph.h, and its weights as the engine holds them.
// No N-API or CUDA types here: every backend shares this description.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "network_graph.h"

namespace flwnet {

constexpr int kFeatureCount = 15;   // 12 histogram bins, vmin, vmax, exposure
constexpr int kHistBins = 12;
constexpr int kCurveCount = 7;      // curve parameters a[0..6]
constexpr int kLevels = 256;        // an 8-bit V channel takes at most 256 values
constexpr int kCoarseScale = 20;    // docs/numerics.md §5
constexpr int kConvLayers = static_cast<int>(kLocalGraph.size());    // e1..e7
constexpr int kDenseLayers = static_cast<int>(kGlobalGraph.size());  // g1..g5
constexpr int kWidth = 16;          // hidden channels of both branches
constexpr int kOutputChannels = kLocalGraph.back().cout;  // e7 output; channels 0..2 are the enhanced image
constexpr float kLeakySlope = 0.01f;
static_assert(kGlobalGraph.front().cin == kFeatureCount && kGlobalGraph.back().cout == kCurveCount,
              "the global branch maps the 15 features to the 7 curve parameters");
static_assert(kEnhancedChannels == 3, "the enhanced image is e7's first three channels");

// Static shape of one 3x3 convolution of the local branch.
struct ConvSpec {
  int cin;
  int cout;
  int dilation;
};
constexpr std::array<ConvSpec, kConvLayers> convSpecsFromGraph() {
  std::array<ConvSpec, kConvLayers> specs{};
  for (int l = 0; l < kConvLayers; ++l) specs[l] = ConvSpec{kLocalGraph[l].cin, kLocalGraph[l].cout, kLocalGraph[l].dilation};
  return specs;
}
constexpr std::array<ConvSpec, kConvLayers> kConvSpecs = convSpecsFromGraph();

// Static shape of one dense (1x1 convolution) layer of the global branch.
struct DenseSpec {
  int cin;
  int cout;
};
constexpr std::array<DenseSpec, kDenseLayers> denseSpecsFromGraph() {
  std::array<DenseSpec, kDenseLayers> specs{};
  for (int l = 0; l < kDenseLayers; ++l) specs[l] = DenseSpec{kGlobalGraph[l].cin, kGlobalGraph[l].cout};
  return specs;
}
constexpr std::array<DenseSpec, kDenseLayers> kDenseSpecs = denseSpecsFromGraph();

// 17,373 for the published model: 3x3 weights and biases of e1..e7, then the dense layers'.
constexpr size_t parameterCount() {
  size_t count = 0;
  for (const ConvSpec& c : kConvSpecs) count += static_cast<size_t>(c.cout) * c.cin * 9 + c.cout;
  for (const DenseSpec& d : kDenseSpecs) count += static_cast<size_t>(d.cout) * d.cin + d.cout;
  return count;
}
constexpr size_t kParamCount = parameterCount();
static_assert(kParamCount == 17373, "the published FLW-Net has 17,373 parameters");

// Views into ModelWeights::params, in PyTorch layout.
struct ConvWeights {
  ConvSpec spec;
  const float* weight;  // [cout][cin][3][3]
  const float* bias;    // [cout]
};
struct DenseWeights {
  DenseSpec spec;
  const float* weight;  // [cout][cin]
  const float* bias;    // [cout]
};

// All 17,373 parameters in one packed vector. The packed order (also the order of the JS
// layer's Float32Array) is e_conv1.weight, e_conv1.bias, ..., e_conv7.bias, then
// g_conv1.weight, g_conv1.bias, ..., g_conv5.bias.
class ModelWeights {
 public:
  // Copies `count` floats; throws InvalidArgument unless count == kParamCount and all are finite.
  ModelWeights(const float* packed, size_t count);
  ModelWeights(const ModelWeights& other);
  ModelWeights& operator=(const ModelWeights& other);

  const ConvWeights& conv(int i) const { return conv_[i]; }
  const DenseWeights& dense(int i) const { return dense_[i]; }
  const std::vector<float>& packed() const { return params_; }

 private:
  void bindViews();
  std::vector<float> params_;
  std::array<ConvWeights, kConvLayers> conv_{};
  std::array<DenseWeights, kDenseLayers> dense_{};
};

}  // namespace flwnet
