// The global branch for training (docs/numerics.md §2-3): features of the low crop, the GFE's
// dense layers with their activations kept, the 7 curve parameters, and the backward pass from
// the gradient of the retouched brightness r (summed per V level) to the GFE's parameters.
#pragma once
#include <array>
#include <cstdint>

#include "core/global_branch.h"
#include "core/model.h"

namespace flwnet::train {

constexpr int kDenseMaxIn = 31;

struct GlobalForward {
  GlobalFeatures features;
  std::array<std::array<double, kDenseMaxIn>, kDenseLayers> inputs{};  // what each dense layer read
  std::array<std::array<double, kWidth>, kDenseLayers> preact{};       // before LeakyReLU
  CurveParams curve;
  std::array<float, kLevels> retouch{};  // r per V level, as the forward uses it
};

// Features from `low` (RGB bytes) with `exposure`, then the GFE and the curve, in double.
GlobalForward globalForward(const float* params, const uint8_t* low, int width, int height, double exposure);

// From dL/dr summed over the pixels of each V level, adds dL/d(GFE parameters) into `grad`
// (packed order, kParamCount doubles).
void globalBackward(const float* params, const GlobalForward& g, const double* levelGrad, double* grad);

}  // namespace flwnet::train
