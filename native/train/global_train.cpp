#include "train/global_train.h"

#include "core/coarse_brightness.h"
#include "core/network_graph.h"
#include "train/param_layout.h"

namespace flwnet::train {
namespace {

constexpr double kSlope = static_cast<double>(kLeakySlope);

// The input vector of dense layer `l` given the previous layer's output and the features.
int denseInput(int l, const double* previous, const GlobalFeatures& f, double* out) {
  const DenseLayer& layer = kGlobalGraph[l];
  int n = 0;
  if (layer.input != DenseInput::Features) {
    for (int i = 0; i < kGlobalGraph[l - 1].cout; ++i) out[n++] = previous[i];
  }
  if (layer.input != DenseInput::Previous) {
    for (int i = 0; i < kFeatureCount; ++i) out[n++] = f.f[i];
  }
  return n;
}

}  // namespace

GlobalForward globalForward(const float* params, const uint8_t* low, int width, int height, double exposure) {
  GlobalForward g;
  ImageU8 image;
  image.data = low;
  image.width = width;
  image.height = height;
  image.channels = 3;
  g.features = featuresFromLevelCounts(countVLevels(image), exposure);
  std::array<double, kWidth> out{};
  for (int l = 0; l < kDenseLayers; ++l) {
    const DenseLayer& layer = kGlobalGraph[l];
    const int n = denseInput(l, out.data(), g.features, g.inputs[l].data());
    const ParamSlice p = denseParams(l);
    for (int o = 0; o < layer.cout; ++o) {
      double z = params[p.bias + o];
      for (int i = 0; i < n; ++i) z += static_cast<double>(params[p.weight + size_t(o) * layer.cin + i]) * g.inputs[l][i];
      g.preact[l][o] = z;
      out[o] = z > 0.0 ? z : z * kSlope;
    }
  }
  for (int i = 0; i < kCurveCount; ++i) g.curve.a[i] = out[i];
  g.retouch = retouchTable(g.curve);
  return g;
}

void globalBackward(const float* params, const GlobalForward& g, const double* levelGrad, double* grad) {
  // The curve r_{i+1} = r_i + a_i (r_i - r_i^2), level by level.
  std::array<double, kWidth> dOut{};
  for (int level = 0; level < kLevels; ++level) {
    if (levelGrad[level] == 0.0) continue;
    std::array<double, kCurveCount + 1> r{};
    r[0] = level / 255.0;
    for (int i = 0; i < kCurveCount; ++i) r[i + 1] = r[i] + g.curve.a[i] * (r[i] - r[i] * r[i]);
    double dr = levelGrad[level];
    for (int i = kCurveCount - 1; i >= 0; --i) {
      dOut[i] += dr * (r[i] - r[i] * r[i]);
      dr *= 1.0 + g.curve.a[i] * (1.0 - 2.0 * r[i]);
    }
  }
  // The dense layers, last first; dOut is the gradient of each layer's output.
  for (int l = kDenseLayers - 1; l >= 0; --l) {
    const DenseLayer& layer = kGlobalGraph[l];
    const ParamSlice p = denseParams(l);
    std::array<double, kDenseMaxIn> dIn{};
    for (int o = 0; o < layer.cout; ++o) {
      const double dz = dOut[o] * (g.preact[l][o] > 0.0 ? 1.0 : kSlope);
      grad[p.bias + o] += dz;
      for (int i = 0; i < layer.cin; ++i) {
        grad[p.weight + size_t(o) * layer.cin + i] += dz * g.inputs[l][i];
        dIn[i] += dz * static_cast<double>(params[p.weight + size_t(o) * layer.cin + i]);
      }
    }
    dOut.fill(0.0);
    if (layer.input != DenseInput::Features) {
      for (int i = 0; i < kGlobalGraph[l - 1].cout; ++i) dOut[i] = dIn[i];  // the features need no gradient
    }
  }
}

}  // namespace flwnet::train
