#include "cudnn_network.h"

#include <cuda_fp16.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/fused/global_branch.cuh"

namespace flwnet::cudnn {

namespace {

constexpr size_t kAlignment = 256;
constexpr size_t kMaxWorkspaceBytes = size_t(512) << 20;  // algorithms wanting more are skipped
constexpr size_t kMaxPlans = 16;

size_t alignUp(size_t bytes) { return (bytes + kAlignment - 1) / kAlignment * kAlignment; }

// Appends `count` values converted to the tensors' element type to a byte image of device memory.
size_t appendValues(std::vector<unsigned char>& image, const std::vector<float>& values, Element element) {
  const size_t offset = image.size();
  if (element == Element::Half) {
    std::vector<__half> halves(values.size());
    for (size_t i = 0; i < values.size(); ++i) halves[i] = __float2half_rn(values[i]);
    image.resize(alignUp(offset + halves.size() * sizeof(__half)));
    std::memcpy(image.data() + offset, halves.data(), halves.size() * sizeof(__half));
  } else {
    image.resize(alignUp(offset + values.size() * sizeof(float)));
    std::memcpy(image.data() + offset, values.data(), values.size() * sizeof(float));
  }
  return offset;
}

// Layer `layer`'s filter zero-padded to the format's channel counts, KCRS (NCHW) or KRSC (NHWC).
std::vector<float> paddedFilter(const ConvWeights& conv, const NetworkFormat& format, int layer) {
  const int outs = format.outChannels[layer];
  const int ins = format.inChannels[layer];
  std::vector<float> filter(static_cast<size_t>(outs) * ins * 9, 0.0f);
  for (int k = 0; k < std::min(outs, conv.spec.cout); ++k) {
    for (int c = 0; c < conv.spec.cin; ++c) {
      for (int tap = 0; tap < 9; ++tap) {
        const size_t to = format.layout == Layout::NCHW ? (static_cast<size_t>(k) * ins + c) * 9 + tap
                                                        : (static_cast<size_t>(k) * 9 + tap) * ins + c;
        filter[to] = conv.weight[(static_cast<size_t>(k) * conv.spec.cin + c) * 9 + tap];
      }
    }
  }
  return filter;
}

std::vector<float> paddedBias(const ConvWeights& conv, int outs) {
  std::vector<float> bias(outs, 0.0f);
  for (int k = 0; k < std::min(outs, conv.spec.cout); ++k) bias[k] = conv.bias[k];
  return bias;
}

bool isTensorOpMath(cudnnMathType_t math) {
  return math == CUDNN_TENSOR_OP_MATH || math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION;
}

// Exact precision keeps to the direct and GEMM-style algorithms with plain FMA arithmetic: the
// Winograd and FFT transforms round differently from a direct sum of products, and TF32 tensor
// cores drop mantissa bits, either of which eats into the 1e-4 error budget of exact mode.
bool exactSafe(cudnnConvolutionFwdAlgo_t algo) {
  return algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM || algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         algo == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || algo == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

}  // namespace

NetworkFormat NetworkFormat::forPrecision(bool fast) {
  NetworkFormat f;
  if (fast) {
    f.layout = Layout::NHWC;
    f.element = Element::Half;
    f.inChannels = {8, 16, 24, 16, 16, 32, 16};
    f.outChannels = {16, 16, 16, 16, 16, 16, 8};
  } else {
    f.inChannels = {4, 16, 20, 16, 16, 32, 16};
    f.outChannels = {16, 16, 16, 16, 16, 16, 3};
  }
  return f;
}

DeviceWeights::DeviceWeights(const ModelWeights& weights, const NetworkFormat& format) {
  std::vector<unsigned char> image;
  for (int layer = 0; layer < kConvLayers; ++layer) {
    const ConvWeights& conv = weights.conv(layer);
    const std::vector<float> bias = paddedBias(conv, format.outChannels[layer]);
    filterOffset_[layer] = appendValues(image, paddedFilter(conv, format, layer), format.element);
    biasOffset_[layer] = appendValues(image, bias, Element::Float);
    typedBiasOffset_[layer] = appendValues(image, bias, format.element);
  }
  const float* denseBegin = weights.dense(0).weight;
  const std::vector<float>& packed = weights.packed();
  const std::vector<float> dense(denseBegin, packed.data() + packed.size());
  FLWNET_CHECK(dense.size() == static_cast<size_t>(cuda::kDenseParamCount), "GFE parameter count mismatch");
  denseOffset_ = appendValues(image, dense, Element::Float);

  FLWNET_CUDA_CHECK(cudaMalloc(&memory_, image.size()));
  try {
    FLWNET_CUDA_CHECK(cudaMemcpy(memory_, image.data(), image.size(), cudaMemcpyHostToDevice));
  } catch (...) {
    cudaFree(memory_);
    throw;
  }
}

DeviceWeights::~DeviceWeights() { cudaFree(memory_); }

ConvRunner::ConvRunner(std::shared_ptr<const Library> library, const NetworkFormat& format,
                       const DeviceWeights& weights, cudaStream_t stream)
    : library_(std::move(library)), api_(library_->api()), format_(format), weights_(weights), stream_(stream) {
  cudnnHandle_t handle = nullptr;
  FLWNET_CUDNN_CHECK(api_, create(&handle));
  handle_ = Descriptor<cudnnHandle_t>(handle, api_.destroy);
  FLWNET_CUDNN_CHECK(api_, setStream(handle_.get(), stream_));
  createLayerDescriptors();
}

ConvRunner::~ConvRunner() {
  // Plans and descriptors are destroyed by their owners; the workspace may still be read by work
  // queued on the stream, so wait for it first (errors no longer matter here).
  cudaStreamSynchronize(stream_);
  cudaFree(workspace_);
}

void ConvRunner::createLayerDescriptors() {
  const cudnnMathType_t math = format_.element == Element::Half ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  for (int layer = 0; layer < kConvLayers; ++layer) {
    const int dilation = kConvSpecs[layer].dilation;
    cudnnFilterDescriptor_t filter = nullptr;
    FLWNET_CUDNN_CHECK(api_, createFilterDescriptor(&filter));
    filters_[layer] = Descriptor<cudnnFilterDescriptor_t>(filter, api_.destroyFilterDescriptor);
    FLWNET_CUDNN_CHECK(api_, setFilter4dDescriptor(filter, format_.dataType(), format_.tensorFormat(),
                                                   format_.outChannels[layer], format_.inChannels[layer], 3, 3));
    cudnnConvolutionDescriptor_t conv = nullptr;
    FLWNET_CUDNN_CHECK(api_, createConvolutionDescriptor(&conv));
    convolutions_[layer] = Descriptor<cudnnConvolutionDescriptor_t>(conv, api_.destroyConvolutionDescriptor);
    // PyTorch's Conv2d is a cross-correlation; padding = dilation keeps the size ("same").
    FLWNET_CUDNN_CHECK(api_, setConvolution2dDescriptor(conv, dilation, dilation, 1, 1, dilation, dilation,
                                                        CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
    FLWNET_CUDNN_CHECK(api_, setConvolutionMathType(conv, math));
    biases_[layer] = tensor(1, format_.outChannels[layer], 1, 1);
  }
  cudnnActivationDescriptor_t identity = nullptr;
  FLWNET_CUDNN_CHECK(api_, createActivationDescriptor(&identity));
  identity_ = Descriptor<cudnnActivationDescriptor_t>(identity, api_.destroyActivationDescriptor);
  FLWNET_CUDNN_CHECK(api_, setActivationDescriptor(identity, CUDNN_ACTIVATION_IDENTITY, CUDNN_PROPAGATE_NAN, 0.0));
}

Descriptor<cudnnTensorDescriptor_t> ConvRunner::tensor(int count, int channels, int rows, int width) {
  cudnnTensorDescriptor_t raw = nullptr;
  FLWNET_CUDNN_CHECK(api_, createTensorDescriptor(&raw));
  Descriptor<cudnnTensorDescriptor_t> owned(raw, api_.destroyTensorDescriptor);
  // A 1 x C x 1 x 1 bias has the same strides in either layout; NCHW is the documented form.
  const cudnnTensorFormat_t layout = rows == 1 && width == 1 && count == 1 ? CUDNN_TENSOR_NCHW : format_.tensorFormat();
  FLWNET_CUDNN_CHECK(api_, setTensor4dDescriptor(raw, layout, format_.dataType(), count, channels, rows, width));
  return owned;
}

const Plan& ConvRunner::plan(int count, int rows, int width, const NetworkIo& io) {
  for (size_t i = 0; i < plans_.size(); ++i) {
    const Plan& p = *plans_[i];
    if (p.count == count && p.rows == rows && p.width == width) {
      std::rotate(plans_.begin() + i, plans_.begin() + i + 1, plans_.end());  // now most recent
      return *plans_.back();
    }
  }
  plans_.push_back(buildPlan(count, rows, width, io));
  if (plans_.size() > kMaxPlans) plans_.erase(plans_.begin());
  return *plans_.back();
}

std::unique_ptr<Plan> ConvRunner::buildPlan(int count, int rows, int width, const NetworkIo& io) {
  auto plan = std::make_unique<Plan>();
  plan->count = count;
  plan->rows = rows;
  plan->width = width;
  const std::string shape = std::to_string(count) + " x " + std::to_string(rows) + " x " + std::to_string(width);
  for (int layer = 0; layer < kConvLayers; ++layer) {
    LayerPlan& lp = plan->layers[layer];
    lp.input = tensor(count, format_.inChannels[layer], rows, width);
    lp.output = tensor(count, format_.outChannels[layer], rows, width);
    chooseAlgorithm(layer, lp, io[layer], shape);
  }
  return plan;
}

// Takes cuDNN's heuristic ranking, keeps what the precision allows, and settles on the first
// candidate that actually runs (a trial on the real buffers), with implicit GEMM as the last resort.
void ConvRunner::chooseAlgorithm(int layer, LayerPlan& lp, const LayerIo& io, const std::string& shape) {
  const bool exact = format_.element == Element::Float;
  cudnnConvolutionFwdAlgoPerf_t ranked[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
  int returned = 0;
  FLWNET_CUDNN_CHECK(api_, getConvolutionForwardAlgorithm(handle_.get(), lp.input.get(), filters_[layer].get(),
                                                          convolutions_[layer].get(), lp.output.get(),
                                                          CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &returned, ranked));
  std::vector<cudnnConvolutionFwdAlgo_t> candidates;
  for (int i = 0; i < returned; ++i) {
    if (ranked[i].status != CUDNN_STATUS_SUCCESS) continue;
    if (exact && (!exactSafe(ranked[i].algo) || isTensorOpMath(ranked[i].mathType))) continue;
    candidates.push_back(ranked[i].algo);
  }
  for (auto fallback : {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM}) {
    if (std::find(candidates.begin(), candidates.end(), fallback) == candidates.end()) candidates.push_back(fallback);
  }
  for (cudnnConvolutionFwdAlgo_t algo : candidates) {
    size_t bytes = 0;
    if (api_.getConvolutionForwardWorkspaceSize(handle_.get(), lp.input.get(), filters_[layer].get(),
                                                convolutions_[layer].get(), lp.output.get(), algo,
                                                &bytes) != CUDNN_STATUS_SUCCESS ||
        bytes > kMaxWorkspaceBytes) {
      continue;
    }
    ensureWorkspace(bytes);
    lp.algo = algo;
    lp.workspaceBytes = bytes;
    const cudnnStatus_t status = convolve(layer, lp, io, false);
    if (status == CUDNN_STATUS_SUCCESS) {
      // The fused bias is only worth it with the algorithm cuDNN would pick anyway: with an
      // identity activation it is restricted to implicit precomputed GEMM.
      lp.fusedBias = algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM && tryFusedBias(layer, lp, io);
      return;
    }
    if (!isNotSupported(status)) throwStatus(api_, status, "ConvolutionForward (trial)", __FILE__, __LINE__);
  }
  throw Error(ErrorCode::Device,
              "cuDNN has no usable algorithm for layer e" + std::to_string(layer + 1) + " at shape " + shape);
}

bool ConvRunner::tryFusedBias(int layer, LayerPlan& lp, const LayerIo& io) {
  const cudnnStatus_t status = convolve(layer, lp, io, true);
  if (status == CUDNN_STATUS_SUCCESS) return true;
  const bool rejected = isNotSupported(status) || CUDNN_STATUS_CATEGORY(static_cast<int>(status)) == CUDNN_STATUS_BAD_PARAM;
  if (!rejected) throwStatus(api_, status, "ConvolutionBiasActivationForward (trial)", __FILE__, __LINE__);
  return false;
}

cudnnStatus_t ConvRunner::convolve(int layer, const LayerPlan& lp, const LayerIo& io, bool fused) {
  const float one = 1.0f;
  const float zero = 0.0f;
  if (fused) {
    // y = identity(1 * conv(x) + 0 * z + bias), with z aliasing y.
    return api_.convolutionBiasActivationForward(
        handle_.get(), &one, lp.input.get(), io.input, filters_[layer].get(), weights_.filter(layer),
        convolutions_[layer].get(), lp.algo, workspace_, lp.workspaceBytes, &zero, lp.output.get(), io.output,
        biases_[layer].get(), weights_.typedBias(layer), identity_.get(), lp.output.get(), io.output);
  }
  return api_.convolutionForward(handle_.get(), &one, lp.input.get(), io.input, filters_[layer].get(),
                                 weights_.filter(layer), convolutions_[layer].get(), lp.algo, workspace_,
                                 lp.workspaceBytes, &zero, lp.output.get(), io.output);
}

bool ConvRunner::run(const Plan& plan, int layer, const LayerIo& io) {
  const LayerPlan& lp = plan.layers[layer];
  FLWNET_CHECK(lp.workspaceBytes <= workspaceBytes_, "convolution workspace smaller than its plan");
  const cudnnStatus_t status = convolve(layer, lp, io, lp.fusedBias);
  if (status != CUDNN_STATUS_SUCCESS) {
    throwStatus(api_, status, lp.fusedBias ? "ConvolutionBiasActivationForward" : "ConvolutionForward", __FILE__,
                __LINE__);
  }
  return lp.fusedBias;
}

void ConvRunner::ensureWorkspace(size_t bytes) {
  if (bytes <= workspaceBytes_) return;
  // Grown rarely (plans are cached), so waiting for queued work that may use the old one is fine.
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(stream_));
  cudaFree(workspace_);
  workspace_ = nullptr;
  workspaceBytes_ = 0;
  const size_t rounded = (bytes + (size_t(1) << 20) - 1) >> 20 << 20;
  FLWNET_CUDA_CHECK(cudaMalloc(&workspace_, rounded));
  workspaceBytes_ = rounded;
}

}  // namespace flwnet::cudnn
