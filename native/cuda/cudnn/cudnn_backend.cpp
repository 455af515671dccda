// The cuDNN backend: per request group, the fused-kernel engine's global branch, then the local
// branch layer by layer (cuDNN convolutions + small element-wise kernels), in horizontal bands
// when the activations of a whole image would not fit the per-slot memory budget.
#include "cudnn_backend.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/image.h"
#include "cuda/runtime/cuda_check.h"
#include "cudnn_api.h"
#include "cudnn_kernels.cuh"
#include "cudnn_network.h"
#include "cudnn_schedule.h"
#include "cudnn_slot.h"
#include "cuda/fused/global_branch.cuh"

namespace flwnet {

namespace {

using cudnn::NetworkFormat;
using cudnn::Slot;

constexpr int kSlotCount = 3;
constexpr size_t kActivationBudgetBytes = size_t(2) << 30;  // per slot, before the device-size cap
// Rows a band needs beyond its output rows on each side: the receptive-field radius of e1..e7
// (dilations 1, 1, 1, 2, 2, 1, 1). Rows this far from a band edge see no artificial zero padding.
constexpr int kHaloRows = 9;

size_t alignUp(size_t bytes) { return (bytes + 255) / 256 * 256; }

bool sameShape(const EnhanceRequest& a, const EnhanceRequest& b) {
  return a.input.width == b.input.width && a.input.height == b.input.height && a.input.channels == b.input.channels &&
         a.outputKind == b.outputKind;
}

// Device addresses of every tensor of one band, carved from the slot's activation buffer.
struct BandTensors {
  void* e1Input;
  void* e3Input;  // [x2 (16), x (3), r (1), padding]
  void* e6Input;  // [x3 (16), x5 (16)]
  void* hiddenA;  // x1, x3, x6 (dense 16 channels)
  void* hiddenB;  // x4
  void* convOut;  // every convolution's raw output
};

// One band of a group of same-size images: rows [start, start + rows) of each image are computed,
// of which rows [start + skip, start + skip + outRows) are written out.
struct Band {
  int start;
  int rows;
  int skip;
  int outRows;
};

class CudnnBackend final : public Backend {
 public:
  CudnnBackend(const ModelWeights& weights, const BackendOptions& options);

  std::string deviceName() const override { return "cuda:" + std::to_string(deviceIndex_); }
  std::string description() const override {
    return deviceLabel_ + " (cuda:" + std::to_string(deviceIndex_) + ", cudnn, " + (fast_ ? "fast" : "exact") + ")";
  }
  int maxConcurrentRequests() const override { return pool_->size(); }
  int preferredBatch() const override { return cuda::kMaxBatch; }

 protected:
  void enhanceImpl(const EnhanceRequest* requests, size_t count, GlobalResult* results) override;
  GlobalResult inspectImpl(const ImageU8& image, double exposure) override;

 private:
  size_t bytesPerPixel() const;
  int groupSize(const EnhanceRequest* requests, size_t remaining) const;
  void processGroup(Slot& slot, const EnhanceRequest* requests, int count, GlobalResult* results);
  cudnn::ImagesU8 uploadGroup(Slot& slot, const EnhanceRequest* requests, int count);
  void runGlobalBranch(Slot& slot, const cudnn::ImagesU8& images, const double* exposures);
  void readGlobalResults(Slot& slot, int count, GlobalResult* results);
  std::vector<Band> planBands(int count, int height, int width) const;
  void runBand(Slot& slot, const EnhanceRequest* requests, const cudnn::ImagesU8& images, const double* grid,
               const Band& band);
  BandTensors carveBand(Slot& slot, int count, int rows, int width);
  void runLocalBranch(Slot& slot, const EnhanceRequest* requests, const cudnn::ImagesU8& images, const Band& band,
                      const BandTensors& t);
  void copyBandOut(Slot& slot, const EnhanceRequest* requests, const cudnn::ImagesU8& images, const Band& band);

  std::shared_ptr<const cudnn::Library> library_;
  int deviceIndex_;
  bool fast_;
  CudaLevelCounts levelCounts_;  // BackendOptions::cudaLevelCounts (the global branch is shared)
  std::string deviceLabel_;
  int multiprocessors_ = 1;
  size_t activationBudget_ = kActivationBudgetBytes;
  NetworkFormat format_;
  std::unique_ptr<cudnn::DeviceWeights> weights_;
  std::unique_ptr<cudnn::SlotPool> pool_;
};

CudnnBackend::CudnnBackend(const ModelWeights& weights, const BackendOptions& options)
    : Backend(options.maxPixels),
      library_(cudnn::Library::open()),
      deviceIndex_(options.deviceIndex),
      fast_(options.precision == Precision::Fast),
      levelCounts_(options.cudaLevelCounts),
      format_(NetworkFormat::forPrecision(fast_)) {
  checkScheduleAgainstGraph("cuDNN", cudnn::kCudnnSchedule, cudnn::kBandBufferChannels.data(),
                            cudnn::kBandBufferChannels.size());
  int devices = 0;
  const cudaError_t status = cudaGetDeviceCount(&devices);
  if (status != cudaSuccess || deviceIndex_ < 0 || deviceIndex_ >= devices) {
    cudaGetLastError();
    throw Error(ErrorCode::Device, "CUDA device " + std::to_string(deviceIndex_) + " is not available (" +
                                       (status != cudaSuccess ? cudaGetErrorString(status)
                                                              : std::to_string(devices) + " devices found") +
                                       ")");
  }
  FLWNET_CUDA_CHECK(cudaSetDevice(deviceIndex_));
  cudaDeviceProp props{};
  FLWNET_CUDA_CHECK(cudaGetDeviceProperties(&props, deviceIndex_));
  deviceLabel_ = props.name;
  multiprocessors_ = props.multiProcessorCount;
  // Leave most of a small device to the other slots and to cuDNN's own workspace.
  activationBudget_ = std::min(kActivationBudgetBytes, static_cast<size_t>(props.totalGlobalMem) / (4 * kSlotCount));
  weights_ = std::make_unique<cudnn::DeviceWeights>(weights, format_);
  std::vector<std::unique_ptr<Slot>> slots;
  for (int i = 0; i < kSlotCount; ++i) slots.push_back(std::make_unique<Slot>(library_, format_, *weights_));
  pool_ = std::make_unique<cudnn::SlotPool>(std::move(slots));
}

size_t CudnnBackend::bytesPerPixel() const {
  const int channels = format_.inChannels[0] + format_.inChannels[2] + format_.inChannels[5] + 3 * kWidth;
  return static_cast<size_t>(channels) * format_.elementBytes();
}

// How many of the next requests share one pass: same size and kind, within the batch limit and,
// when more than one, small enough that the whole group's activations fit the budget.
int CudnnBackend::groupSize(const EnhanceRequest* requests, size_t remaining) const {
  const size_t perImage = requests[0].input.pixels() * bytesPerPixel();
  const size_t fits = std::max<size_t>(1, activationBudget_ / std::max<size_t>(1, perImage));
  const size_t limit = std::min<size_t>({remaining, static_cast<size_t>(cuda::kMaxBatch), fits});
  size_t n = 1;
  while (n < limit && sameShape(requests[0], requests[n])) ++n;
  return static_cast<int>(n);
}

void CudnnBackend::enhanceImpl(const EnhanceRequest* requests, size_t count, GlobalResult* results) {
  FLWNET_CUDA_CHECK(cudaSetDevice(deviceIndex_));
  cudnn::SlotPool::Lease slot = pool_->acquire();
  // Results are staged so that a failure part-way reports no request of the batch as complete.
  std::vector<GlobalResult> staged(count);
  for (size_t done = 0; done < count;) {
    const int n = groupSize(requests + done, count - done);
    processGroup(*slot, requests + done, n, staged.data() + done);
    done += n;
  }
  if (results != nullptr) std::copy(staged.begin(), staged.end(), results);
}

GlobalResult CudnnBackend::inspectImpl(const ImageU8& image, double exposure) {
  FLWNET_CUDA_CHECK(cudaSetDevice(deviceIndex_));
  cudnn::SlotPool::Lease slot = pool_->acquire();
  EnhanceRequest request;
  request.input = image;
  request.exposure = exposure;
  const cudnn::ImagesU8 images = uploadGroup(*slot, &request, 1);
  runGlobalBranch(*slot, images, &exposure);
  GlobalResult result;
  readGlobalResults(*slot, 1, &result);
  return result;
}

cudnn::ImagesU8 CudnnBackend::uploadGroup(Slot& slot, const EnhanceRequest* requests, int count) {
  const ImageU8& first = requests[0].input;
  const size_t bytes = first.bytes();
  auto* device = static_cast<uint8_t*>(slot.images.ensure(bytes * count, slot.stream));
  for (int i = 0; i < count; ++i) {
    FLWNET_CUDA_CHECK(cudaMemcpyAsync(device + bytes * i, requests[i].input.data, bytes, cudaMemcpyHostToDevice,
                                      slot.stream));
  }
  return cudnn::ImagesU8{device, count, first.height, first.width, first.channels};
}

void CudnnBackend::runGlobalBranch(Slot& slot, const cudnn::ImagesU8& images, const double* exposures) {
  cuda::GlobalBranchParams params;
  params.batch.count = images.count;
  const size_t bytes = static_cast<size_t>(images.height) * images.width * images.channels;
  for (int i = 0; i < images.count; ++i) {
    params.batch.image[i] = cuda::DeviceImage{images.data + bytes * i, images.width, images.height, images.channels};
    params.batch.exposure[i] = exposures[i];
  }
  params.denseWeights = weights_->denseWeights();
  params.out = slot.global.device;
  params.levelCounts = levelCounts_;
  cuda::launchGlobalBranch(params, multiprocessors_, slot.stream);
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(slot.global.hostFeatures, slot.global.device.features,
                                    sizeof(double) * kFeatureCount * images.count, cudaMemcpyDeviceToHost,
                                    slot.stream));
  FLWNET_CUDA_CHECK(cudaMemcpyAsync(slot.global.hostCurve, slot.global.device.curve,
                                    sizeof(double) * kCurveCount * images.count, cudaMemcpyDeviceToHost, slot.stream));
}

// Waits for the stream, then reads what runGlobalBranch copied back.
void CudnnBackend::readGlobalResults(Slot& slot, int count, GlobalResult* results) {
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(slot.stream));
  for (int i = 0; i < count; ++i) {
    std::copy_n(slot.global.hostFeatures + i * kFeatureCount, kFeatureCount, results[i].features.f.begin());
    std::copy_n(slot.global.hostCurve + i * kCurveCount, kCurveCount, results[i].curve.a.begin());
  }
}

void CudnnBackend::processGroup(Slot& slot, const EnhanceRequest* requests, int count, GlobalResult* results) {
  throwIfCancelled(requests, count);
  const cudnn::ImagesU8 images = uploadGroup(slot, requests, count);
  double exposures[cuda::kMaxBatch];
  for (int i = 0; i < count; ++i) exposures[i] = requests[i].exposure;
  runGlobalBranch(slot, images, exposures);

  cudnn::CoarseGridParams coarse;
  coarse.images = images;
  coarse.coarseHeight = std::max(1, images.height / kCoarseScale);
  coarse.coarseWidth = std::max(1, images.width / kCoarseScale);
  const size_t cells = static_cast<size_t>(coarse.coarseHeight) * coarse.coarseWidth * count;
  coarse.grid = static_cast<double*>(slot.coarseGrid.ensure(cells * sizeof(double), slot.stream));
  cudnn::launchCoarseGrid(coarse, slot.stream);

  for (const Band& band : planBands(count, images.height, images.width)) {
    throwIfCancelled(requests, count);
    runBand(slot, requests, images, coarse.grid, band);
  }
  readGlobalResults(slot, count, results);
}

// Whole images when they fit the activation budget, else bands of as many rows as fit, each
// computed with kHaloRows extra rows on both sides (clipped at the image edges).
std::vector<Band> CudnnBackend::planBands(int count, int height, int width) const {
  const size_t rowBytes = static_cast<size_t>(width) * count * bytesPerPixel();
  const size_t rowsThatFit = activationBudget_ / rowBytes;
  if (rowsThatFit >= static_cast<size_t>(height)) return {Band{0, height, 0, height}};
  if (rowsThatFit < static_cast<size_t>(2 * kHaloRows + 1)) {
    throw Error(ErrorCode::OutOfMemory, "image is too wide for the cuDNN backend's band memory (" +
                                            std::to_string(width) + " pixels a row)");
  }
  const int step = static_cast<int>(rowsThatFit) - 2 * kHaloRows;
  std::vector<Band> bands;
  for (int y0 = 0; y0 < height; y0 += step) {
    const int y1 = std::min(height, y0 + step);
    const int start = std::max(0, y0 - kHaloRows);
    const int end = std::min(height, y1 + kHaloRows);
    bands.push_back(Band{start, end - start, y0 - start, y1 - y0});
  }
  return bands;
}

BandTensors CudnnBackend::carveBand(Slot& slot, int count, int rows, int width) {
  const size_t pixels = static_cast<size_t>(count) * rows * width;
  const size_t element = format_.elementBytes();
  const size_t sizes[] = {
      alignUp(pixels * format_.inChannels[0] * element), alignUp(pixels * format_.inChannels[2] * element),
      alignUp(pixels * format_.inChannels[5] * element), alignUp(pixels * kWidth * element),
      alignUp(pixels * kWidth * element),
      alignUp(pixels * std::max(kWidth, format_.outChannels[kConvLayers - 1]) * element)};
  size_t total = 0;
  for (size_t s : sizes) total += s;
  // Zeroed when first allocated: the algorithm trials of a new plan read tensors no layer has
  // written yet, and cuDNN's fused call takes the (zero-weighted) z input from the scratch tensor,
  // which must therefore never hold NaN left over from uninitialised memory.
  char* p = static_cast<char*>(slot.activations.ensure(total, slot.stream, true));
  BandTensors t{};
  void** fields[] = {&t.e1Input, &t.e3Input, &t.e6Input, &t.hiddenA, &t.hiddenB, &t.convOut};
  for (size_t i = 0; i < 6; ++i) {
    *fields[i] = p;
    p += sizes[i];
  }
  return t;
}

void CudnnBackend::runBand(Slot& slot, const EnhanceRequest* requests, const cudnn::ImagesU8& images,
                           const double* grid, const Band& band) {
  const BandTensors t = carveBand(slot, images.count, band.rows, images.width);
  cudnn::PrepareParams prep;
  prep.images = images;
  prep.rowStart = band.start;
  prep.rows = band.rows;
  prep.grid = grid;
  prep.coarseHeight = std::max(1, images.height / kCoarseScale);
  prep.coarseWidth = std::max(1, images.width / kCoarseScale);
  prep.retouch = slot.global.device.retouch;
  prep.e1Input = cudnn::ChannelSlice{t.e1Input, format_.inChannels[0], 0};
  prep.e3Input = cudnn::ChannelSlice{t.e3Input, format_.inChannels[2], 0};
  prep.layout = format_.layout;
  prep.element = format_.element;
  cudnn::launchPrepare(prep, slot.stream);
  runLocalBranch(slot, requests, images, band, t);
  copyBandOut(slot, requests, images, band);
}

void CudnnBackend::runLocalBranch(Slot& slot, const EnhanceRequest* requests, const cudnn::ImagesU8& images,
                                  const Band& band, const BandTensors& t) {
  const cudnn::NetworkIo io = {{{t.e1Input, t.convOut},
                                {t.hiddenA, t.convOut},
                                {t.e3Input, t.convOut},
                                {t.hiddenA, t.convOut},
                                {t.hiddenB, t.convOut},
                                {t.e6Input, t.convOut},
                                {t.hiddenA, t.convOut}}};
  // Where each hidden layer's activation goes: the concatenations [x2, x, r] and [x3, x5] are
  // built in place by writing into channel slices.
  using Slice = cudnn::ChannelSlice;
  const Slice hiddenA{t.hiddenA, kWidth, 0};
  const Slice none{};
  const Slice destinations[kConvLayers - 1][2] = {
      {hiddenA, none},
      {Slice{t.e3Input, format_.inChannels[2], 0}, none},
      {hiddenA, Slice{t.e6Input, format_.inChannels[5], 0}},
      {Slice{t.hiddenB, kWidth, 0}, none},
      {Slice{t.e6Input, format_.inChannels[5], kWidth}, none},
      {hiddenA, none}};
  const cudnn::Plan& plan = slot.conv->plan(images.count, band.rows, images.width, io);
  for (int layer = 0; layer < kConvLayers - 1; ++layer) {
    const bool biasAdded = slot.conv->run(plan, layer, io[layer]);
    cudnn::BiasLeakyParams post;
    post.src = t.convOut;
    post.bias = biasAdded ? nullptr : weights_->bias(layer);
    post.count = images.count;
    post.rows = band.rows;
    post.width = images.width;
    post.first = destinations[layer][0];
    post.second = destinations[layer][1];
    post.layout = format_.layout;
    post.element = format_.element;
    cudnn::launchBiasLeaky(post, slot.stream);
    throwIfCancelled(requests, images.count);
  }
  const bool biasAdded = slot.conv->run(plan, kConvLayers - 1, io[kConvLayers - 1]);
  cudnn::FinishParams finish;
  finish.src = t.convOut;
  finish.srcChannels = format_.outChannels[kConvLayers - 1];
  finish.bias = biasAdded ? nullptr : weights_->bias(kConvLayers - 1);
  finish.rows = band.rows;
  finish.skipRows = band.skip;
  finish.outRows = band.outRows;
  finish.outRowStart = band.start + band.skip;
  finish.images = images;
  finish.floatOutput = requests[0].outputKind == OutputKind::F32;
  const size_t outBytes = static_cast<size_t>(images.count) * band.outRows * images.width * images.channels *
                          (finish.floatOutput ? sizeof(float) : sizeof(uint8_t));
  finish.out = slot.output.ensure(outBytes, slot.stream);
  finish.layout = format_.layout;
  finish.element = format_.element;
  cudnn::launchFinish(finish, slot.stream);
}

// Copies the band's finished rows of every image of the group to the callers' buffers.
void CudnnBackend::copyBandOut(Slot& slot, const EnhanceRequest* requests, const cudnn::ImagesU8& images,
                               const Band& band) {
  const size_t element = requests[0].outputKind == OutputKind::F32 ? sizeof(float) : sizeof(uint8_t);
  const size_t rowBytes = static_cast<size_t>(images.width) * images.channels * element;
  const size_t bandBytes = rowBytes * band.outRows;
  const auto* staged = static_cast<const char*>(slot.output.ensure(bandBytes * images.count, slot.stream));
  for (int i = 0; i < images.count; ++i) {
    char* destination = static_cast<char*>(requests[i].output) + rowBytes * (band.start + band.skip);
    FLWNET_CUDA_CHECK(
        cudaMemcpyAsync(destination, staged + bandBytes * i, bandBytes, cudaMemcpyDeviceToHost, slot.stream));
  }
  // The callers' buffers are ordinary (pageable) memory: make sure the copies have landed before
  // the next band reuses the staging buffer or the request completes.
  FLWNET_CUDA_CHECK(cudaStreamSynchronize(slot.stream));
}

}  // namespace

std::unique_ptr<Backend> createCudnnBackend(const ModelWeights& weights, const BackendOptions& options) {
  return std::make_unique<CudnnBackend>(weights, options);
}

}  // namespace flwnet
