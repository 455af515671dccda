// The seven 3x3 convolutions of the local branch on cuDNN's legacy API: weights uploaded once in
// the precision's layout, per-stream descriptors, and per-shape plans (algorithm and workspace
// chosen once for each n x rows x width a stream meets).
#pragma once
#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/model.h"
#include "cudnn_api.h"
#include "cudnn_kernels.cuh"

namespace flwnet::cudnn {

// How one precision stores the network. Channel counts are padded to multiples of 8 in fast mode
// (tensor-core kernels want them); the padding weights are zero, so the sums do not change.
struct NetworkFormat {
  Layout layout = Layout::NCHW;
  Element element = Element::Float;
  std::array<int, kConvLayers> inChannels{};   // e1..e7, padded
  std::array<int, kConvLayers> outChannels{};  // e7 keeps only the 3 image channels (+ padding)

  static NetworkFormat forPrecision(bool fast);
  size_t elementBytes() const { return element == Element::Half ? 2 : 4; }
  cudnnDataType_t dataType() const { return element == Element::Half ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }
  cudnnTensorFormat_t tensorFormat() const { return layout == Layout::NHWC ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW; }
};

// Filters and biases in device memory, shared read-only by every stream of the backend, plus the
// GFE parameters for the global-branch kernels.
class DeviceWeights {
 public:
  DeviceWeights(const ModelWeights& weights, const NetworkFormat& format);
  ~DeviceWeights();
  DeviceWeights(const DeviceWeights&) = delete;
  DeviceWeights& operator=(const DeviceWeights&) = delete;

  const void* filter(int layer) const { return base(filterOffset_[layer]); }
  const float* bias(int layer) const { return static_cast<const float*>(base(biasOffset_[layer])); }
  // The bias in the tensors' element type, as cudnnConvolutionBiasActivationForward takes it.
  const void* typedBias(int layer) const { return base(typedBiasOffset_[layer]); }
  const float* denseWeights() const { return static_cast<const float*>(base(denseOffset_)); }

 private:
  const void* base(size_t offset) const { return static_cast<const char*>(memory_) + offset; }
  void* memory_ = nullptr;
  std::array<size_t, kConvLayers> filterOffset_{};
  std::array<size_t, kConvLayers> biasOffset_{};
  std::array<size_t, kConvLayers> typedBiasOffset_{};
  size_t denseOffset_ = 0;
};

// Owns one cuDNN descriptor and destroys it with the library's matching function.
template <typename Handle>
class Descriptor {
 public:
  using Destroy = cudnnStatus_t (*)(Handle);
  Descriptor() = default;
  Descriptor(Handle handle, Destroy destroy) : handle_(handle), destroy_(destroy) {}
  Descriptor(Descriptor&& other) noexcept : handle_(other.handle_), destroy_(other.destroy_) { other.handle_ = nullptr; }
  Descriptor& operator=(Descriptor&& other) noexcept {
    std::swap(handle_, other.handle_);
    std::swap(destroy_, other.destroy_);
    return *this;
  }
  Descriptor(const Descriptor&) = delete;
  Descriptor& operator=(const Descriptor&) = delete;
  ~Descriptor() {
    if (handle_ != nullptr) destroy_(handle_);
  }
  Handle get() const { return handle_; }

 private:
  Handle handle_ = nullptr;
  Destroy destroy_ = nullptr;
};

// Device pointers a layer reads and writes (its output is always a dense scratch tensor).
struct LayerIo {
  const void* input = nullptr;
  void* output = nullptr;
};
using NetworkIo = std::array<LayerIo, kConvLayers>;

// The per-layer choices for one work shape.
struct LayerPlan {
  Descriptor<cudnnTensorDescriptor_t> input;
  Descriptor<cudnnTensorDescriptor_t> output;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspaceBytes = 0;
  bool fusedBias = false;  // cuDNN adds the bias itself (cudnnConvolutionBiasActivationForward)
};
struct Plan {
  int count = 0;
  int rows = 0;
  int width = 0;
  std::array<LayerPlan, kConvLayers> layers;
};

// One stream's convolution engine: a cuDNN handle bound to the stream, the layer descriptors, the
// workspace, and the plans. Not thread-safe; the backend gives each concurrent request its own.
class ConvRunner {
 public:
  ConvRunner(std::shared_ptr<const Library> library, const NetworkFormat& format, const DeviceWeights& weights,
             cudaStream_t stream);
  ~ConvRunner();
  ConvRunner(const ConvRunner&) = delete;
  ConvRunner& operator=(const ConvRunner&) = delete;

  // The plan for count x rows x width, built on first use. Building runs each layer once on `io`
  // (whose contents are then undefined) to confirm the chosen algorithm executes.
  const Plan& plan(int count, int rows, int width, const NetworkIo& io);

  // Enqueues layer `layer`'s convolution on the stream. Returns true when the bias was added by
  // cuDNN (the following element-wise kernel must then not add it again).
  bool run(const Plan& plan, int layer, const LayerIo& io);

 private:
  void createLayerDescriptors();
  std::unique_ptr<Plan> buildPlan(int count, int rows, int width, const NetworkIo& io);
  void chooseAlgorithm(int layer, LayerPlan& lp, const LayerIo& io, const std::string& shape);
  bool tryFusedBias(int layer, LayerPlan& lp, const LayerIo& io);
  cudnnStatus_t convolve(int layer, const LayerPlan& lp, const LayerIo& io, bool fused);
  void ensureWorkspace(size_t bytes);
  Descriptor<cudnnTensorDescriptor_t> tensor(int count, int channels, int rows, int width);

  std::shared_ptr<const Library> library_;
  const Api& api_;
  NetworkFormat format_;
  const DeviceWeights& weights_;
  cudaStream_t stream_;
  Descriptor<cudnnHandle_t> handle_;
  std::array<Descriptor<cudnnFilterDescriptor_t>, kConvLayers> filters_;
  std::array<Descriptor<cudnnConvolutionDescriptor_t>, kConvLayers> convolutions_;
  std::array<Descriptor<cudnnTensorDescriptor_t>, kConvLayers> biases_;
  Descriptor<cudnnActivationDescriptor_t> identity_;
  void* workspace_ = nullptr;
  size_t workspaceBytes_ = 0;
  std::vector<std::unique_ptr<Plan>> plans_;  // most recently used last
};

}  // namespace flwnet::cudnn
