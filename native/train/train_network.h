// FLW-Net for training: a forward pass over a batch of equal-size crops that keeps every
// activation the backward pass needs, and the backward pass itself, from the output gradient of
// the enhanced image back to all 17,373 parameters. The wiring comes from network_graph.h.
//
// Determinism: all work is cut into fixed units (one image x kBandRows rows); each unit writes its
// own rows of activations and gradients and its own partial weight gradients, which are summed in
// unit order in double. So the result does not depend on the thread count or scheduling.
#pragma once
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "core/global_branch.h"
#include "core/model.h"
#include "core/network_graph.h"
#include "cpu/thread_pool.h"
#include "train/global_train.h"
#include "train/train_batch.h"
#include "train/train_kernels.h"

namespace flwnet::train {

constexpr int kBandRows = 8;  // rows per work unit

constexpr bool isHidden(Tensor t) { return int(t) >= int(Tensor::X1); }

// Channels each tensor is stored with: the hidden tensors and e7's output use all 16 lanes.
constexpr int storedChannels(Tensor t) { return isHidden(t) ? kTrainLanes : tensorChannels(t); }

// The 9 tap offsets (in floats) of a 3x3 kernel with `dilation` over a tensor of `channels` per
// pixel and `rowPixels` per row; sign -1 gives the mirrored taps the input gradient reads.
inline std::array<ptrdiff_t, 9> tapOffsets(int dilation, ptrdiff_t rowPixels, int channels, int sign) {
  std::array<ptrdiff_t, 9> offsets{};
  for (int ky = 0; ky < 3; ++ky)
    for (int kx = 0; kx < 3; ++kx)
      offsets[ky * 3 + kx] = sign * ((ky - 1) * dilation * rowPixels + (kx - 1) * dilation) * channels;
  return offsets;
}

// Floats of one unit's partial weight gradient for layer `l`: [input][tap][c][16], then 16 biases.
inline size_t unitGradSize(int l) {
  size_t n = kTrainLanes;
  for (int k = 0; k < kLocalGraph[l].inputCount; ++k) n += size_t(9) * storedChannels(kLocalGraph[l].inputs[k]) * kTrainLanes;
  return n;
}

// A batch tensor: B images of (H + 2 pad) x (W + 2 pad) pixels of `channels` floats, zero borders.
struct BatchTensor {
  int channels = 0;
  std::vector<float> data;
};

// Each layer's weights re-arranged for the kernels (see conv_train_kernels.h).
struct PreparedLayer {
  std::array<std::vector<float>, kMaxLayerInputs> forward;   // [tap][c][16]
  std::array<std::vector<float>, kMaxLayerInputs> backward;  // [tap][16 out][16 in], 16-channel inputs
  std::vector<float> bias;                                   // 16
};

class TrainNetwork {
 public:
  TrainNetwork(cpu::ThreadPool& pool, const TrainKernels& kernels) : pool_(pool), kernels_(kernels) {}

  // Runs the batch forward with `params` (packed order); afterwards enhanced() holds the output.
  void forward(const float* params, const TrainBatchView& batch, const std::atomic<int32_t>* cancel);

  // The enhanced images as planar double [B][3][H][W].
  void enhanced(std::vector<double>& out) const;

  // Back-propagates dE ([B][3][H][W], the loss gradient of enhanced()) and writes the gradient of
  // every parameter, packed order, into `grad` (kParamCount doubles, overwritten).
  void backward(const std::vector<double>& dE, double* grad, const std::atomic<int32_t>* cancel);

  const std::vector<GlobalForward>& globals() const { return globals_; }

 private:
  void prepareWeights(const float* params);
  void buildInputs(const TrainBatchView& batch);
  void forwardLayer(int l);
  void outputGradient(const std::vector<double>& dE);
  void backwardLayer(int l, double* grad);
  void backwardUnit(int l, int b, int y0, int y1, float* unitGrad, double* unitLevels);
  void reduceLayerGradient(int l, double* grad);
  void backwardGlobal(double* grad);

  float* pixel(BatchTensor& t, int b, int x, int y) const;
  const float* pixel(const BatchTensor& t, int b, int x, int y) const;
  size_t unitCount() const { return static_cast<size_t>(batch_) * bands_; }
  void runUnits(const std::function<void(int b, int y0, int y1, size_t unit)>& task);

  cpu::ThreadPool& pool_;
  const TrainKernels& kernels_;
  int batch_ = 0, width_ = 0, height_ = 0, bands_ = 0;
  ptrdiff_t rowPixels_ = 0, imagePixels_ = 0;
  std::array<PreparedLayer, kConvLayers> layers_;
  std::array<BatchTensor, kTensorCount> acts_;   // activations, by Tensor
  std::array<BatchTensor, kTensorCount> grads_;  // gradients of X1..X7 (16 channels)
  std::vector<GlobalForward> globals_;           // per image: features, GFE activations, curve
  std::vector<uint8_t> levels_;                  // per image and pixel: V level of the low image
  std::vector<float> unitGrads_;                 // per unit: one layer's partial weight gradient
  std::vector<double> unitLevelGrads_;           // per unit: gradient of r summed per V level
  std::vector<double> levelGrads_;               // per image: gradient of r summed per V level
  std::vector<double> reduced_;                  // one layer's weight gradient, summed over units
  std::array<bool, kTensorCount> gradWritten_{}; // whether a tensor's gradient holds a first term
  std::vector<float> params_;
};

}  // namespace flwnet::train
