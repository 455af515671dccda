// The FLW-Net architecture (SPEC.md sections 2 and 5) and its weights as the engine holds them.
// No N-API or CUDA types here: every backend shares this description.
#pragma once
#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace flwnet {

constexpr int kFeatureCount = 15;   // 12 histogram bins, vmin, vmax, exposure
constexpr int kHistBins = 12;
constexpr int kCurveCount = 7;      // curve parameters a[0..6]
constexpr int kLevels = 256;        // an 8-bit V channel takes at most 256 values
constexpr int kCoarseScale = 20;    // SPEC.md section 4
constexpr int kConvLayers = 7;      // e1..e7
constexpr int kDenseLayers = 5;     // g1..g5
constexpr int kWidth = 16;          // hidden channels of both branches
constexpr int kOutputChannels = 6;  // e7 output; channels 0..2 are the enhanced image
constexpr float kLeakySlope = 0.01f;
constexpr size_t kParamCount = 17373;

// Static shape of one 3x3 convolution of the local branch.
struct ConvSpec {
  int cin;
  int cout;
  int dilation;
};
constexpr std::array<ConvSpec, kConvLayers> kConvSpecs = {{
    {4, 16, 1}, {16, 16, 1}, {20, 16, 1}, {16, 16, 2}, {16, 16, 2}, {32, 16, 1}, {16, 6, 1},
}};

// Static shape of one dense (1x1 convolution) layer of the global branch.
struct DenseSpec {
  int cin;
  int cout;
};
constexpr std::array<DenseSpec, kDenseLayers> kDenseSpecs = {{
    {15, 16}, {16, 16}, {31, 16}, {16, 16}, {16, 7},
}};

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
