#include "model.h"

#include <cmath>
#include <string>

#include "error.h"

namespace flwnet {

ModelWeights::ModelWeights(const float* packed, size_t count) {
  if (packed == nullptr || count != kParamCount) {
    throw Error(ErrorCode::InvalidArgument, "weights must hold exactly " + std::to_string(kParamCount) +
                                                " float32 parameters, got " + std::to_string(count));
  }
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(packed[i])) {
      throw Error(ErrorCode::InvalidArgument, "weights hold a non-finite value at parameter " + std::to_string(i));
    }
  }
  params_.assign(packed, packed + count);
  bindViews();
}

ModelWeights::ModelWeights(const ModelWeights& other) : params_(other.params_) { bindViews(); }

ModelWeights& ModelWeights::operator=(const ModelWeights& other) {
  if (this != &other) {
    params_ = other.params_;
    bindViews();
  }
  return *this;
}

void ModelWeights::bindViews() {
  const float* p = params_.data();
  for (int i = 0; i < kConvLayers; ++i) {
    const ConvSpec& s = kConvSpecs[i];
    conv_[i] = ConvWeights{s, p, p + s.cout * s.cin * 9};
    p += s.cout * s.cin * 9 + s.cout;
  }
  for (int i = 0; i < kDenseLayers; ++i) {
    const DenseSpec& s = kDenseSpecs[i];
    dense_[i] = DenseWeights{s, p, p + s.cout * s.cin};
    p += s.cout * s.cin + s.cout;
  }
  FLWNET_CHECK(p == params_.data() + params_.size(), "parameter layout does not add up");
}

}  // namespace flwnet
