// The CUDA backend with fused custom kernels (global_branch.cu, local_*.cu). Weights are uploaded
// once; each enhance() call borrows a slot (stream + arena + pinned staging), packs its images
// into one upload and one launch per stage, and processes images whose output exceeds a band
// budget in horizontal bands so device memory stays bounded.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/backend.h"
#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/runtime/cuda_slots.h"
#include "cuda/fused/global_branch.cuh"
#include "cuda/fused/local_fused.cuh"
#include "cuda/fused/local_schedules.h"
#if FLWNET_WITH_CUDNN
#include "cuda/cudnn/cudnn_backend.h"
#endif

namespace flwnet {
namespace {

using cuda::alignUp;

constexpr int kSlotCount = 3;
constexpr size_t kBandBytes = size_t(128) << 20;        // output bytes per band of one large image
constexpr size_t kInitialArenaBytes = size_t(48) << 20;  // a 1080p RGBA request with f32 output fits
constexpr size_t kInitialStagingBytes = size_t(48) << 20;

size_t outputElementBytes(OutputKind kind) { return kind == OutputKind::F32 ? sizeof(float) : sizeof(uint8_t); }

// Where one batch's pieces live in the slot's arena (and, for inputs and outputs, in its pinned
// staging, which mirrors the arena's input and output regions).
struct BatchLayout {
  std::vector<size_t> inputOffset;
  std::vector<size_t> coarseOffset;
  std::vector<size_t> outputOffset;  // within the output region
  size_t inputBytes = 0;
  size_t coarseBytes = 0;
  size_t outputBytes = 0;  // one band (a single large image) or all outputs (a batch)
  int bandRows = 0;        // rows per band when the batch is one banded image, else 0

  size_t coarseBase() const { return inputBytes; }
  size_t outputBase() const { return inputBytes + coarseBytes; }
  size_t arenaBytes() const { return outputBase() + outputBytes; }
};

BatchLayout planBatch(const EnhanceRequest* requests, size_t count, int tileRows) {
  BatchLayout plan;
  for (size_t i = 0; i < count; ++i) {
    const ImageU8& img = requests[i].input;
    plan.inputOffset.push_back(plan.inputBytes);
    plan.inputBytes += alignUp(img.bytes());
    plan.coarseOffset.push_back(plan.coarseBytes);
    plan.coarseBytes += alignUp(sizeof(float) * cuda::coarseCellCount(img.width) * cuda::coarseCellCount(img.height));
  }
  const size_t element = outputElementBytes(requests[0].outputKind);
  const ImageU8& first = requests[0].input;
  const size_t rowBytes = static_cast<size_t>(first.width) * first.channels * element;
  if (count == 1 && rowBytes * first.height > kBandBytes) {
    const int rows = std::max<int>(tileRows, static_cast<int>(kBandBytes / rowBytes) / tileRows * tileRows);
    plan.bandRows = std::min(rows, first.height);
    plan.outputOffset.push_back(0);
    plan.outputBytes = alignUp(rowBytes * plan.bandRows);
    return plan;
  }
  for (size_t i = 0; i < count; ++i) {
    plan.outputOffset.push_back(plan.outputBytes);
    plan.outputBytes += alignUp(requests[i].input.pixels() * requests[i].input.channels * element);
  }
  return plan;
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(const ModelWeights& weights, const BackendOptions& options);
  ~CudaBackend() override { cudaSetDevice(device_); }  // members release on this device

  std::string deviceName() const override { return "cuda:" + std::to_string(device_); }
  std::string description() const override {
    return std::string(properties_.name) + " (" + deviceName() + ", fused kernels, " +
           (precision_ == Precision::Exact ? std::string("exact, ") + cuda::exactKernelName(exactKernel_) + " kernel"
                                           : std::string("fast, ") + cuda::fastKernelName(fastKernel_) + " kernel") +
           (levelCounts_ == CudaLevelCounts::Warp ? ", warp level counts" : "") + ")";
  }
  int maxConcurrentRequests() const override { return kSlotCount; }
  int preferredBatch() const override { return cuda::kMaxBatch; }

 protected:
  void enhanceImpl(const EnhanceRequest* requests, size_t count, GlobalResult* results) override;
  GlobalResult inspectImpl(const ImageU8& image, double exposure) override;

 private:
  // Uploads the batch's inputs, runs the global branch and leaves the device batch description.
  cuda::DeviceBatch uploadAndRunGlobal(cuda::Slot& slot, const EnhanceRequest* requests, size_t count,
                                       const BatchLayout& plan);
  void runBatch(cuda::Slot& slot, const EnhanceRequest* requests, size_t count, GlobalResult* results);
  void runBands(cuda::Slot& slot, cuda::LocalParams& local, const EnhanceRequest* requests, size_t count,
                const BatchLayout& plan);
  void collectGlobal(cuda::Slot& slot, size_t count, GlobalResult* results) const;

  int device_ = 0;
  Precision precision_;
  cuda::ExactKernel exactKernel_;  // BackendOptions::cudaExactKernel
  cuda::FastKernel fastKernel_;    // BackendOptions::cudaFastKernel (Mma only on sm_80+, else Wmma)
  CudaLevelCounts levelCounts_;    // BackendOptions::cudaLevelCounts
  cudaDeviceProp properties_{};
  cuda::DeviceMemory localWeights_;
  cuda::DeviceMemory localBiases_;
  cuda::DeviceMemory denseWeights_;
  std::unique_ptr<cuda::SlotPool> slots_;
};

void uploadOnce(cuda::DeviceMemory& memory, const void* data, size_t bytes) {
  memory.reserve(bytes);
  FLWNET_CUDA_CHECK(cudaMemcpy(memory.data(), data, bytes, cudaMemcpyHostToDevice));
}

CudaBackend::CudaBackend(const ModelWeights& weights, const BackendOptions& options)
    : Backend(options.maxPixels),
      device_(options.deviceIndex),
      precision_(options.precision),
      exactKernel_(options.cudaExactKernel),
      fastKernel_(options.cudaFastKernel),
      levelCounts_(options.cudaLevelCounts) {
  cuda::checkFusedSchedules();
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorCode::Device, std::string("no usable CUDA device: ") + cudaGetErrorString(status));
  }
  if (device_ < 0 || device_ >= devices) {
    throw Error(ErrorCode::Device, "CUDA device " + std::to_string(device_) + " does not exist (this machine has " +
                                       std::to_string(devices) + ")");
  }
  FLWNET_CUDA_CHECK(cudaSetDevice(device_));
  FLWNET_CUDA_CHECK(cudaGetDeviceProperties(&properties_, device_));
  if (properties_.major < 8) fastKernel_ = cuda::FastKernel::Wmma;  // mma.sync m16n8k16 needs sm_80
  const std::vector<uint8_t> packed = cuda::packLocalWeights(weights, precision_);
  uploadOnce(localWeights_, packed.data(), packed.size());
  const std::vector<float> biases = cuda::packLocalBiases(weights);
  uploadOnce(localBiases_, biases.data(), sizeof(float) * biases.size());
  uploadOnce(denseWeights_, weights.dense(0).weight, sizeof(float) * cuda::kDenseParamCount);
  slots_ = std::make_unique<cuda::SlotPool>(kSlotCount, kInitialArenaBytes, kInitialStagingBytes);
}

void CudaBackend::enhanceImpl(const EnhanceRequest* requests, size_t count, GlobalResult* results) {
  FLWNET_CUDA_CHECK(cudaSetDevice(device_));
  cuda::SlotPool::Lease lease(*slots_);
  // Consecutive requests with the same output kind go together, up to kMaxBatch images and one
  // band's worth of output; a request larger than that runs alone, in bands.
  size_t begin = 0;
  while (begin < count) {
    const size_t element = outputElementBytes(requests[begin].outputKind);
    size_t end = begin + 1;
    size_t bytes = requests[begin].input.bytes() * element;
    while (end < count && end - begin < static_cast<size_t>(cuda::kMaxBatch) &&
           requests[end].outputKind == requests[begin].outputKind &&
           bytes + requests[end].input.bytes() * element <= kBandBytes) {
      bytes += requests[end].input.bytes() * element;
      ++end;
    }
    runBatch(lease.slot(), requests + begin, end - begin, results == nullptr ? nullptr : results + begin);
    begin = end;
  }
}

GlobalResult CudaBackend::inspectImpl(const ImageU8& image, double exposure) {
  EnhanceRequest request;
  request.input = image;
  request.exposure = exposure;
  FLWNET_CUDA_CHECK(cudaSetDevice(device_));
  cuda::SlotPool::Lease lease(*slots_);
  cuda::Slot& slot = lease.slot();
  const BatchLayout plan = planBatch(&request, 1, cuda::localTileRows(precision_));
  uploadAndRunGlobal(slot, &request, 1, plan);
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(slot.stream));
  GlobalResult result;
  collectGlobal(slot, 1, &result);
  return result;
}

cuda::DeviceBatch CudaBackend::uploadAndRunGlobal(cuda::Slot& slot, const EnhanceRequest* requests, size_t count,
                                                  const BatchLayout& plan) {
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(slot.stream));  // the arena may move below
  slot.arena.reserve(plan.arenaBytes());
  slot.hostIo.reserve(plan.inputBytes + plan.outputBytes);
  cuda::DeviceBatch batch;
  batch.count = static_cast<int>(count);
  for (size_t i = 0; i < count; ++i) {
    const ImageU8& img = requests[i].input;
    std::memcpy(slot.hostIo.data() + plan.inputOffset[i], img.data, img.bytes());
    batch.image[i] = cuda::DeviceImage{slot.arena.data() + plan.inputOffset[i], img.width, img.height, img.channels};
    batch.exposure[i] = requests[i].exposure;
  }
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(slot.arena.data(), slot.hostIo.data(), plan.inputBytes, cudaMemcpyHostToDevice,
                                    slot.stream));
  cuda::GlobalBranchParams global;
  global.batch = batch;
  global.denseWeights = reinterpret_cast<const float*>(denseWeights_.data());
  global.out = slot.branch;
  global.levelCounts = levelCounts_;
  cuda::launchGlobalBranch(global, properties_.multiProcessorCount, slot.stream);
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(slot.hostFeatures(), slot.branch.features, sizeof(double) * count * kFeatureCount,
                                    cudaMemcpyDeviceToHost, slot.stream));
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(slot.hostCurves(), slot.branch.curve, sizeof(double) * count * kCurveCount,
                                    cudaMemcpyDeviceToHost, slot.stream));
  return batch;
}

void CudaBackend::runBatch(cuda::Slot& slot, const EnhanceRequest* requests, size_t count, GlobalResult* results) {
  throwIfCancelled(requests, count);
  const BatchLayout plan = planBatch(requests, count, cuda::localTileRows(precision_));
  cuda::LocalParams local;
  local.batch = uploadAndRunGlobal(slot, requests, count, plan);
  local.weights = localWeights_.data();
  local.biases = reinterpret_cast<const float*>(localBiases_.data());
  local.floatOutput = requests[0].outputKind == OutputKind::F32;
  for (size_t i = 0; i < count; ++i) {
    cuda::LocalImage& li = local.images[i];
    li.coarse = reinterpret_cast<float*>(slot.arena.data() + plan.coarseBase() + plan.coarseOffset[i]);
    li.retouch = slot.branch.retouch + i * kLevels;
    li.cellsX = cuda::coarseCellCount(requests[i].input.width);
    li.cellsY = cuda::coarseCellCount(requests[i].input.height);
  }
  cuda::launchCoarseGrid(local, slot.stream);
  runBands(slot, local, requests, count, plan);
  if (results != nullptr) collectGlobal(slot, count, results);
}

// Runs the local branch band by band (a batch is one band of whole images) and copies each band
// to the callers' buffers. Cancellation is checked before every band.
void CudaBackend::runBands(cuda::Slot& slot, cuda::LocalParams& local, const EnhanceRequest* requests, size_t count,
                           const BatchLayout& plan) {
  unsigned char* deviceOut = slot.arena.data() + plan.outputBase();
  unsigned char* hostOut = slot.hostIo.data() + plan.inputBytes;
  const size_t element = outputElementBytes(requests[0].outputKind);
  const int height = requests[0].input.height;
  const int bandRows = plan.bandRows > 0 ? plan.bandRows : height;
  for (int y0 = 0; y0 < (plan.bandRows > 0 ? height : 1); y0 += bandRows) {
    throwIfCancelled(requests, count);
    size_t copyBytes = 0;
    for (size_t i = 0; i < count; ++i) {
      const ImageU8& img = requests[i].input;
      cuda::LocalImage& li = local.images[i];
      li.bandBegin = plan.bandRows > 0 ? y0 : 0;
      li.bandRows = plan.bandRows > 0 ? std::min(bandRows, height - y0) : img.height;
      li.output = deviceOut + plan.outputOffset[i];
      copyBytes = plan.outputOffset[i] + static_cast<size_t>(li.bandRows) * img.width * img.channels * element;
    }
    cuda::launchLocalFused(local, precision_, slot.stream, exactKernel_, fastKernel_);
    FLWNET_CUDA_CHECK(cudaMemcpyAsync(hostOut, deviceOut, copyBytes, cudaMemcpyDeviceToHost, slot.stream));
    FLWNET_CUDA_CHECK(cudaStreamSynchronize(slot.stream));
    for (size_t i = 0; i < count; ++i) {
      const ImageU8& img = requests[i].input;
      const size_t rowBytes = static_cast<size_t>(img.width) * img.channels * element;
      unsigned char* dst = static_cast<unsigned char*>(requests[i].output) + local.images[i].bandBegin * rowBytes;
      std::memcpy(dst, hostOut + plan.outputOffset[i], rowBytes * local.images[i].bandRows);
    }
  }
}

void CudaBackend::collectGlobal(cuda::Slot& slot, size_t count, GlobalResult* results) const {
  for (size_t i = 0; i < count; ++i) {
    std::copy_n(slot.hostFeatures() + i * kFeatureCount, kFeatureCount, results[i].features.f.begin());
    std::copy_n(slot.hostCurves() + i * kCurveCount, kCurveCount, results[i].curve.a.begin());
  }
}

}  // namespace

std::unique_ptr<Backend> createCudaBackend(const ModelWeights& weights, const BackendOptions& options) {
  if (options.useCudnn) {
#if FLWNET_WITH_CUDNN
    return createCudnnBackend(weights, options);
#else
    throw Error(ErrorCode::Device,
                "this build has no cuDNN backend (headers were not found at build time; set CUDNN_ROOT)");
#endif
  }
  return std::make_unique<CudaBackend>(weights, options);
}

}  // namespace flwnet
