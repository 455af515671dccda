// TrainNetwork's backward pass: layers e7..e1 from network_graph.h in reverse, then the curve
// and the GFE. Each layer's gradient is formed per work unit and summed in unit order.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "train/param_layout.h"
#include "train/train_network.h"

namespace flwnet::train {
namespace {

// The first layer reading `t`: the backward pass visits it last, so it completes dL/d(t) and
// applies t's LeakyReLU derivative in the same pass.
int firstConsumer(Tensor t) {
  for (int l = 0; l < kConvLayers; ++l)
    for (int k = 0; k < kLocalGraph[l].inputCount; ++k)
      if (kLocalGraph[l].inputs[k] == t) return l;
  return -1;
}

// Channels of layer l's output gradient that can be non-zero: e7's enhanced channels only
// (its illumination channels feed no loss), every channel elsewhere.
int gradientChannels(int l) {
  return kLocalGraph[l].output == Tensor::X7 ? kEnhancedChannels : kLocalGraph[l].cout;
}

}  // namespace

void TrainNetwork::backward(const std::vector<double>& dE, double* grad, const std::atomic<int32_t>* cancel) {
  std::fill(grad, grad + kParamCount, 0.0);
  gradWritten_.fill(false);
  outputGradient(dE);
  for (int l = kConvLayers - 1; l >= 0; --l) {
    if (cancel != nullptr && cancel->load(std::memory_order_relaxed) != 0) {
      throw Error(ErrorCode::Cancelled, "the training step was cancelled");
    }
    backwardLayer(l, grad);
  }
  backwardGlobal(grad);
}

void TrainNetwork::backwardLayer(int l, double* grad) {
  const ConvLayer& layer = kLocalGraph[l];
  const size_t stride = unitGradSize(l);
  bool readsRetouched = false;
  for (int k = 0; k < layer.inputCount; ++k) readsRetouched |= layer.inputs[k] == Tensor::Retouched;
  runUnits([&](int b, int y0, int y1, size_t unit) {
    float* unitGrad = unitGrads_.data() + unit * stride;
    std::fill(unitGrad, unitGrad + stride, 0.0f);
    double* levels = readsRetouched ? unitLevelGrads_.data() + unit * kLevels : nullptr;
    if (levels != nullptr) std::fill(levels, levels + kLevels, 0.0);
    backwardUnit(l, b, y0, y1, unitGrad, levels);
  });
  for (int k = 0; k < layer.inputCount; ++k) {
    if (isHidden(layer.inputs[k])) gradWritten_[int(layer.inputs[k])] = true;
  }
  reduceLayerGradient(l, grad);
  if (readsRetouched) {
    levelGrads_.assign(size_t(batch_) * kLevels, 0.0);
    for (size_t unit = 0; unit < unitCount(); ++unit) {
      double* dst = levelGrads_.data() + (unit / bands_) * kLevels;
      const double* src = unitLevelGrads_.data() + unit * kLevels;
      for (int v = 0; v < kLevels; ++v) dst[v] += src[v];
    }
  }
}

// One unit of a layer's backward: input gradients of its rows, its partial weight and bias
// gradients, and (for the layer reading r) dL/dr summed per V level.
void TrainNetwork::backwardUnit(int l, int b, int y0, int y1, float* unitGrad, double* levels) {
  const ConvLayer& layer = kLocalGraph[l];
  const PreparedLayer& prepared = layers_[l];
  const BatchTensor& dz = grads_[int(layer.output)];
  const auto back = tapOffsets(layer.dilation, rowPixels_, kTrainLanes, -1);
  float* gradOut = unitGrad;
  for (int k = 0; k < layer.inputCount; ++k) {
    const Tensor input = layer.inputs[k];
    const BatchTensor& src = acts_[int(input)];
    const auto fwd = tapOffsets(layer.dilation, rowPixels_, src.channels, 1);
    if (isHidden(input)) {
      const bool accumulate = gradWritten_[int(input)];
      const int producer = int(input) - int(Tensor::X1);
      const bool finishes = firstConsumer(input) == l && kLocalGraph[producer].activation == Activation::LeakyRelu;
      for (int y = y0; y < y1; ++y) {
        kernels_.convInputGradRow(InputGradRowArgs{pixel(dz, b, 0, y), gradientChannels(l), back.data(), prepared.backward[k].data(), width_,
                                                   accumulate, finishes ? pixel(src, b, 0, y) : nullptr, kLeakySlope,
                                                   pixel(grads_[int(input)], b, 0, y)});
      }
    } else if (input == Tensor::Retouched) {
      // dL/dr(q) = sum over taps and outputs of dZ(q - off) W[o][r][t]; then summed per V level.
      const std::vector<float>& w = prepared.forward[k];  // [tap][1][16]
      for (int y = y0; y < y1; ++y) {
        const float* d = pixel(dz, b, 0, y);
        const uint8_t* lv = levels_.data() + (size_t(b) * height_ + y) * width_;
        for (int x = 0; x < width_; ++x) {
          float lanes[kTrainLanes] = {};  // per output channel over the taps (vectorises), then in double
          for (int t = 0; t < 9; ++t) {
            const float* dp = d + x * kTrainLanes + back[t];
            for (int o = 0; o < kTrainLanes; ++o) lanes[o] += dp[o] * w[t * kTrainLanes + o];
          }
          double sum = 0.0;
          for (int o = 0; o < kTrainLanes; ++o) sum += lanes[o];
          levels[lv[x]] += sum;
        }
      }
    }
    kernels_.convWeightGrad(WeightGradArgs{pixel(src, b, 0, y0), src.channels, rowPixels_ * src.channels, fwd.data(),
                                           pixel(dz, b, 0, y0), rowPixels_ * kTrainLanes, width_, y1 - y0, gradOut});
    gradOut += size_t(9) * src.channels * kTrainLanes;
  }
  float bias[kTrainLanes] = {};  // local, so the compiler keeps it in registers
  for (int y = y0; y < y1; ++y) {
    const float* d = pixel(dz, b, 0, y);
    for (int x = 0; x < width_; ++x)
      for (int o = 0; o < kTrainLanes; ++o) bias[o] += d[x * kTrainLanes + o];
  }
  for (int o = 0; o < kTrainLanes; ++o) gradOut[o] += bias[o];
}

// Sums the units' partial gradients in unit order (double) and scatters them into the packed
// PyTorch layout. Chunks of the unit layout are summed with contiguous reads.
void TrainNetwork::reduceLayerGradient(int l, double* grad) {
  const ConvLayer& layer = kLocalGraph[l];
  const ParamSlice p = convParams(l);
  const size_t stride = unitGradSize(l);
  const size_t units = unitCount();
  constexpr size_t kChunk = 256;
  reduced_.assign(stride, 0.0);
  pool_.run((stride + kChunk - 1) / kChunk, [&](size_t chunk, int) {
    const size_t begin = chunk * kChunk, end = std::min(stride, begin + kChunk);
    double* dst = reduced_.data();
    for (size_t u = 0; u < units; ++u) {
      const float* src = unitGrads_.data() + u * stride;
      for (size_t i = begin; i < end; ++i) dst[i] += src[i];
    }
  });
  size_t section = 0;
  for (int k = 0; k < layer.inputCount; ++k) {
    const int channels = storedChannels(layer.inputs[k]);
    const int offset = inputChannelOffset(layer, k);
    for (int o = 0; o < layer.cout; ++o)
      for (int c = 0; c < tensorChannels(layer.inputs[k]); ++c)
        for (int t = 0; t < 9; ++t)
          grad[p.weight + (size_t(o) * layer.cin + offset + c) * 9 + t] = reduced_[section + (size_t(t) * channels + c) * kTrainLanes + o];
    section += size_t(9) * channels * kTrainLanes;
  }
  for (int o = 0; o < layer.cout; ++o) grad[p.bias + o] = reduced_[section + o];
}

void TrainNetwork::backwardGlobal(double* grad) {
  for (int b = 0; b < batch_; ++b) globalBackward(params_.data(), globals_[b], levelGrads_.data() + size_t(b) * kLevels, grad);
}

}  // namespace flwnet::train
