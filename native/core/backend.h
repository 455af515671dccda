// The interface every inference backend (CPU, CUDA fused kernels, cuDNN) implements.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "engine_settings.h"
#include "global_branch.h"
#include "image.h"
#include "model.h"

namespace flwnet {

enum class Precision { Exact, Fast };

constexpr size_t kDefaultMaxPixels = size_t(1) << 28;  // 268 megapixels (16384 x 16384)

struct BackendOptions {
  int threads = 0;                 // CPU worker threads; 0 = all hardware threads
  int deviceIndex = 0;             // CUDA device ordinal
  Precision precision = Precision::Exact;
  bool useCudnn = false;           // CUDA: convolutions through cuDNN instead of the fused kernels
  size_t maxPixels = 0;            // largest image accepted (sizes scratch limits); 0 = library default
  CpuIsaSetting cpuIsa = CpuIsaSetting::Auto;
  bool cpuWinograd = true;         // CPU: e1..e6 through Winograd kernels (false: direct; scalar is always direct)
  CpuKernel cpuKernel = CpuKernel::Auto;
  CudaExactKernel cudaExactKernel = CudaExactKernel::Stream;
  CudaFastKernel cudaFastKernel = CudaFastKernel::Wmma;      // fused backend; Mma needs sm_80 (else Wmma)
  CudaLevelCounts cudaLevelCounts = CudaLevelCounts::Shared;  // global branch of both CUDA backends
};

// One image to enhance. `output` points at width*height*channels elements of uint8_t (U8) or
// float (F32), written in the input's channel layout; alpha (channel 3) is copied through
// (as value/255 for F32). `cancel`, when set, is polled between work units: a non-zero value
// aborts the request with ErrorCode::Cancelled.
struct EnhanceRequest {
  ImageU8 input;
  double exposure = 0.4;
  OutputKind outputKind = OutputKind::U8;
  void* output = nullptr;
  const std::atomic<int32_t>* cancel = nullptr;
};

// What the global branch decided for a request (returned for inspection and logging).
struct GlobalResult {
  GlobalFeatures features;
  CurveParams curve;
};

// The public entries enhance() and inspect() validate their arguments and poll cancellation once,
// here, then call the backend's enhanceImpl()/inspectImpl() (which may assume valid requests).
class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu", "cuda:0", ... as shown to users.
  virtual std::string deviceName() const = 0;
  // Human description, e.g. "cpu (2 threads, avx512)" or "NVIDIA H100 80GB HBM3 (fused, exact)".
  virtual std::string description() const = 0;

  // Enhances `count` requests (a batch lets GPU backends pack small images into one launch).
  // Throws flwnet::Error; on failure no request of the batch is reported complete.
  void enhance(const EnhanceRequest* requests, size_t count, GlobalResult* results);

  // The global branch alone.
  GlobalResult inspect(const ImageU8& image, double exposure);

  // How many enhance() calls may usefully run at once from different threads (each call must be
  // thread-safe; a backend that cannot overlap work serialises internally). GPU backends return
  // their number of streams so upload, compute and download of successive calls overlap.
  virtual int maxConcurrentRequests() const { return 1; }

  // Largest batch worth packing into one enhance() call (small images on a GPU); 1 = no batching.
  virtual int preferredBatch() const { return 1; }

  // Throws ErrorCode::Cancelled when the flag (or any request's flag) is raised. Backends call this
  // between their work units so every backend reports cancellation the same way.
  static void throwIfCancelled(const std::atomic<int32_t>* cancel);
  static void throwIfCancelled(const EnhanceRequest* requests, size_t count);

 protected:
  // `maxPixels` 0 means kDefaultMaxPixels.
  explicit Backend(size_t maxPixels);
  size_t maxPixels() const { return maxPixels_; }

  // Called with 1 <= count, every request valid and none cancelled yet.
  virtual void enhanceImpl(const EnhanceRequest* requests, size_t count, GlobalResult* results) = 0;
  // Called with a valid image and exposure.
  virtual GlobalResult inspectImpl(const ImageU8& image, double exposure) = 0;

 private:
  size_t maxPixels_;
};

std::unique_ptr<Backend> createCpuBackend(const ModelWeights& weights, const BackendOptions& options);

#if FLWNET_WITH_CUDA
std::unique_ptr<Backend> createCudaBackend(const ModelWeights& weights, const BackendOptions& options);
#endif

}  // namespace flwnet
