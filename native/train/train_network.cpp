#include "train/train_network.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/coarse_brightness.h"
#include "core/error.h"
#include "train/param_layout.h"

namespace flwnet::train {
namespace {

void throwIfCancelled(const std::atomic<int32_t>* cancel) {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed) != 0) {
    throw Error(ErrorCode::Cancelled, "the training step was cancelled");
  }
}

size_t maxUnitGradSize() {
  size_t n = 0;
  for (int l = 0; l < kConvLayers; ++l) n = std::max(n, unitGradSize(l));
  return n;
}

}  // namespace

float* TrainNetwork::pixel(BatchTensor& t, int b, int x, int y) const {
  return t.data.data() + ((b * imagePixels_) + (y + kTrainPad) * rowPixels_ + (x + kTrainPad)) * t.channels;
}
const float* TrainNetwork::pixel(const BatchTensor& t, int b, int x, int y) const {
  return t.data.data() + ((b * imagePixels_) + (y + kTrainPad) * rowPixels_ + (x + kTrainPad)) * t.channels;
}

void TrainNetwork::runUnits(const std::function<void(int b, int y0, int y1, size_t unit)>& task) {
  pool_.run(unitCount(), [&](size_t unit, int) {
    const int b = static_cast<int>(unit / bands_);
    const int y0 = static_cast<int>(unit % bands_) * kBandRows;
    task(b, y0, std::min(height_, y0 + kBandRows), unit);
  });
}

void TrainNetwork::prepareWeights(const float* params) {
  for (int l = 0; l < kConvLayers; ++l) {
    const ConvLayer& layer = kLocalGraph[l];
    const ParamSlice p = convParams(l);
    PreparedLayer& prepared = layers_[l];
    prepared.bias.assign(kTrainLanes, 0.0f);
    for (int o = 0; o < layer.cout; ++o) prepared.bias[o] = params[p.bias + o];
    for (int k = 0; k < layer.inputCount; ++k) {
      const int channels = storedChannels(layer.inputs[k]);
      const int offset = inputChannelOffset(layer, k);
      std::vector<float>& fw = prepared.forward[k];
      fw.assign(size_t(9) * channels * kTrainLanes, 0.0f);
      for (int t = 0; t < 9; ++t)
        for (int c = 0; c < tensorChannels(layer.inputs[k]); ++c)
          for (int o = 0; o < layer.cout; ++o)
            fw[(size_t(t) * channels + c) * kTrainLanes + o] = params[p.weight + (size_t(o) * layer.cin + offset + c) * 9 + t];
      std::vector<float>& bw = prepared.backward[k];
      bw.clear();
      if (!isHidden(layer.inputs[k])) continue;
      bw.assign(size_t(9) * kTrainLanes * kTrainLanes, 0.0f);
      for (int t = 0; t < 9; ++t)
        for (int o = 0; o < layer.cout; ++o)
          for (int c = 0; c < kTrainLanes; ++c)
            bw[(size_t(t) * kTrainLanes + o) * kTrainLanes + c] = params[p.weight + (size_t(o) * layer.cin + offset + c) * 9 + t];
    }
  }
}

// Features, GFE and curve per image, and the four input tensors of the local branch.
void TrainNetwork::buildInputs(const TrainBatchView& batch) {
  globals_.resize(batch_);
  levels_.resize(size_t(batch_) * width_ * height_);
  pool_.run(batch_, [&](size_t unit, int) {
    const int b = static_cast<int>(unit);
    const TrainExampleView& ex = batch.examples[b];
    const double exposure = std::isnan(ex.exposure) ? referenceExposure(ex.high, width_, height_) : ex.exposure;
    globals_[b] = globalForward(params_.data(), ex.low, width_, height_, exposure);
    ImageU8 image;
    image.data = ex.low;
    image.width = width_;
    image.height = height_;
    image.channels = 3;
    const CoarseBrightness coarse = computeCoarseBrightness(image);
    const std::array<float, kLevels>& retouch = globals_[b].retouch;
    for (int y = 0; y < height_; ++y) {
      float* shifted = pixel(acts_[int(Tensor::ImageMinusHalfCoarse)], b, 0, y);
      float* half = pixel(acts_[int(Tensor::HalfCoarse)], b, 0, y);
      float* img = pixel(acts_[int(Tensor::Image)], b, 0, y);
      float* r = pixel(acts_[int(Tensor::Retouched)], b, 0, y);
      const CoarseBrightness::Row coarseRow = coarse.row(y);
      for (int x = 0; x < width_; ++x) {
        const uint8_t* px = ex.low + (size_t(y) * width_ + x) * 3;
        const double halfCoarse = 0.5 * coarseRow.at(x);
        for (int c = 0; c < 3; ++c) {
          const double v = px[c] / 255.0;
          img[x * 3 + c] = static_cast<float>(v);
          shifted[x * 3 + c] = static_cast<float>(v - halfCoarse);
        }
        half[x] = static_cast<float>(halfCoarse);
        const uint8_t level = std::max(px[0], std::max(px[1], px[2]));
        r[x] = retouch[level];
        levels_[(size_t(b) * height_ + y) * width_ + x] = level;
      }
    }
  });
}

void TrainNetwork::forward(const float* params, const TrainBatchView& batch, const std::atomic<int32_t>* cancel) {
  validateBatch(batch);
  params_.assign(params, params + kParamCount);
  const bool resized = batch_ != int(batch.examples.size()) || width_ != batch.width || height_ != batch.height;
  batch_ = static_cast<int>(batch.examples.size());
  width_ = batch.width;
  height_ = batch.height;
  bands_ = (height_ + kBandRows - 1) / kBandRows;
  rowPixels_ = width_ + 2 * kTrainPad;
  imagePixels_ = rowPixels_ * (height_ + 2 * kTrainPad);
  if (resized) {
    // Borders stay zero from here on: every pass writes interiors only.
    for (int t = 0; t < kTensorCount; ++t) {
      const int channels = storedChannels(Tensor(t));
      acts_[t].channels = channels;
      acts_[t].data.assign(size_t(batch_) * imagePixels_ * channels, 0.0f);
      grads_[t].channels = channels;
      if (isHidden(Tensor(t))) grads_[t].data.assign(size_t(batch_) * imagePixels_ * channels, 0.0f);
    }
    unitGrads_.assign(unitCount() * maxUnitGradSize(), 0.0f);
    unitLevelGrads_.assign(unitCount() * kLevels, 0.0);
  }
  prepareWeights(params);
  buildInputs(batch);
  for (int l = 0; l < kConvLayers; ++l) {
    throwIfCancelled(cancel);
    forwardLayer(l);
  }
}

void TrainNetwork::forwardLayer(int l) {
  const ConvLayer& layer = kLocalGraph[l];
  const PreparedLayer& prepared = layers_[l];
  std::array<std::array<ptrdiff_t, 9>, kMaxLayerInputs> offsets;
  for (int k = 0; k < layer.inputCount; ++k) {
    offsets[k] = tapOffsets(layer.dilation, rowPixels_, storedChannels(layer.inputs[k]), 1);
  }
  runUnits([&](int b, int y0, int y1, size_t) {
    std::array<ConvRowInput, kMaxLayerInputs> inputs;
    for (int y = y0; y < y1; ++y) {
      for (int k = 0; k < layer.inputCount; ++k) {
        const BatchTensor& in = acts_[int(layer.inputs[k])];
        inputs[k] = ConvRowInput{pixel(in, b, 0, y), in.channels, offsets[k].data(), prepared.forward[k].data()};
      }
      float* out = pixel(acts_[int(layer.output)], b, 0, y);
      const bool leaky = layer.activation == Activation::LeakyRelu;
      kernels_.convForwardRow(ConvRowArgs{inputs.data(), layer.inputCount, prepared.bias.data(), leaky, kLeakySlope,
                                          width_, out});
      if (layer.activation == Activation::Softplus) {
        // Only the enhanced channels: 3..5 (the illumination estimate) feed no loss and stay pre-activation.
        for (int x = 0; x < width_; ++x)
          for (int c = 0; c < kEnhancedChannels; ++c) {
            float& z = out[x * kTrainLanes + c];
            z = z > 20.0f ? z : std::log1p(std::exp(z));
          }
      }
    }
  });
}

void TrainNetwork::enhanced(std::vector<double>& out) const {
  out.resize(size_t(batch_) * kEnhancedChannels * height_ * width_);
  const BatchTensor& x7 = acts_[int(Tensor::X7)];
  for (int b = 0; b < batch_; ++b)
    for (int c = 0; c < kEnhancedChannels; ++c)
      for (int y = 0; y < height_; ++y) {
        const float* row = pixel(x7, b, 0, y);
        double* dst = out.data() + ((size_t(b) * kEnhancedChannels + c) * height_ + y) * width_;
        for (int x = 0; x < width_; ++x) dst[x] = row[x * kTrainLanes + c];
      }
}

// dZ7 = dE * softplus'(z) with softplus'(z) = sigmoid(z) = 1 - exp(-softplus(z)).
void TrainNetwork::outputGradient(const std::vector<double>& dE) {
  const BatchTensor& x7 = acts_[int(Tensor::X7)];
  BatchTensor& g7 = grads_[int(Tensor::X7)];
  runUnits([&](int b, int y0, int y1, size_t) {
    for (int y = y0; y < y1; ++y) {
      const float* out = pixel(x7, b, 0, y);
      float* g = pixel(g7, b, 0, y);
      for (int c = 0; c < kEnhancedChannels; ++c) {
        const double* d = dE.data() + ((size_t(b) * kEnhancedChannels + c) * height_ + y) * width_;
        for (int x = 0; x < width_; ++x) {
          const double sigmoid = -std::expm1(-static_cast<double>(out[x * kTrainLanes + c]));
          g[x * kTrainLanes + c] = static_cast<float>(d[x] * sigmoid);
        }
      }
    }
  });
}

}  // namespace flwnet::train
