// Timings for gpu_check: the fused kernels alone (CUDA events around the global branch, coarse grid
// and LEN launches; what a PyTorch forward pass is compared with) and enhance() end to end (host
// staging, transfers and synchronisation included), median of several runs after warm-up.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "core/backend.h"
#include "cuda/cuda_check.h"
#include "cuda/device_memory.h"
#include "cuda/global_branch.cuh"
#include "cuda/len_fused.cuh"
#include "gpu_check_support.h"

using namespace flwnet;
using namespace gpucheck;

namespace {

constexpr int kWarmup = 3;
constexpr int kRuns = 20;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-side inputs and buffers for `batch` images of one size, and the launch parameters.
struct KernelBench {
  cuda::DeviceMemory input, coarse, output, weights, biases, dense, globals;
  cuda::GlobalBranchParams global;
  cuda::LenParams len;

  KernelBench(const ModelWeights& w, Precision precision, int width, int height, int batch) {
    const size_t bytes = size_t(width) * height * 3;
    const size_t cells = size_t(cuda::coarseCellCount(width)) * cuda::coarseCellCount(height);
    input.reserve(bytes * batch);
    coarse.reserve(sizeof(float) * cells * batch);
    output.reserve(bytes * batch);
    for (int b = 0; b < batch; ++b) {
      const std::vector<uint8_t> img = randomImage(width, height, 3, 900 + b);
      FLWNET_CUDA_CHECK(cudaMemcpy(input.data() + b * bytes, img.data(), bytes, cudaMemcpyHostToDevice));
    }
    const std::vector<uint8_t> packed = cuda::packLenWeights(w, precision);
    weights.reserve(packed.size());
    FLWNET_CUDA_CHECK(cudaMemcpy(weights.data(), packed.data(), packed.size(), cudaMemcpyHostToDevice));
    const std::vector<float> bias = cuda::packLenBiases(w);
    biases.reserve(bias.size() * sizeof(float));
    FLWNET_CUDA_CHECK(cudaMemcpy(biases.data(), bias.data(), bias.size() * sizeof(float), cudaMemcpyHostToDevice));
    dense.reserve(sizeof(float) * cuda::kDenseParamCount);
    FLWNET_CUDA_CHECK(cudaMemcpy(dense.data(), w.dense(0).weight, sizeof(float) * cuda::kDenseParamCount,
                                 cudaMemcpyHostToDevice));
    globals.reserve(size_t(cuda::kMaxBatch) * (kLevels * 12 + kFeatureCount * 8 + kCurveCount * 8) + 4096);
    unsigned char* g = globals.data();
    global.out.levelCounts = reinterpret_cast<unsigned long long*>(g);
    global.out.retouch = reinterpret_cast<float*>(g + cuda::kMaxBatch * kLevels * 8);
    global.out.features = reinterpret_cast<double*>(g + cuda::kMaxBatch * kLevels * 12 + 1024);
    global.out.curve = global.out.features + cuda::kMaxBatch * kFeatureCount;
    global.denseWeights = reinterpret_cast<const float*>(dense.data());
    global.batch.count = batch;
    len.weights = weights.data();
    len.biases = reinterpret_cast<const float*>(biases.data());
    for (int b = 0; b < batch; ++b) {
      global.batch.image[b] = cuda::DeviceImage{input.data() + b * bytes, width, height, 3};
      global.batch.exposure[b] = 0.4;
      cuda::LenImage& li = len.len[b];
      li.coarse = reinterpret_cast<float*>(coarse.data()) + b * cells;
      li.retouch = global.out.retouch + b * kLevels;
      li.output = output.data() + b * bytes;
      li.cellsX = cuda::coarseCellCount(width);
      li.cellsY = cuda::coarseCellCount(height);
      li.bandRows = height;
    }
    len.batch = global.batch;
  }

  void run(Precision precision, int sms) {
    cuda::launchGlobalBranch(global, sms, nullptr);
    cuda::launchCoarseGrid(len, nullptr);
    cuda::launchLenFused(len, precision, nullptr);
  }
};

double kernelMs(const ModelWeights& w, Precision precision, int width, int height, int batch, int sms) {
  KernelBench bench(w, precision, width, height, batch);
  cudaEvent_t start, stop;
  FLWNET_CUDA_CHECK(cudaEventCreate(&start));
  FLWNET_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < kWarmup; ++i) bench.run(precision, sms);
  std::vector<double> times;
  for (int i = 0; i < kRuns; ++i) {
    FLWNET_CUDA_CHECK(cudaEventRecord(start));
    bench.run(precision, sms);
    FLWNET_CUDA_CHECK(cudaEventRecord(stop));
    FLWNET_CUDA_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    FLWNET_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    times.push_back(ms);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return median(times);
}

double endToEndMs(Backend& backend, int width, int height, int batch) {
  std::vector<std::vector<uint8_t>> images, outputs;
  std::vector<EnhanceRequest> requests;
  for (int b = 0; b < batch; ++b) {
    images.push_back(randomImage(width, height, 3, 500 + b));
    outputs.emplace_back(images.back().size());
  }
  for (int b = 0; b < batch; ++b) {
    EnhanceRequest r;
    r.input = ImageU8{images[b].data(), width, height, 3};
    r.output = outputs[b].data();
    requests.push_back(r);
  }
  std::vector<double> times;
  for (int i = 0; i < kWarmup + kRuns / 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    backend.enhance(requests.data(), requests.size(), nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= kWarmup) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return median(times);
}

}  // namespace

void runTimings(Log& log, const ModelWeights& w) {
  cudaDeviceProp prop{};
  FLWNET_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const int sizes[][2] = {{640, 480}, {1920, 1080}, {3840, 2160}};
  std::printf("\n%-6s %-10s %5s %12s %12s %12s\n", "mode", "size", "batch", "kernel ms", "MPix/s", "enhance ms");
  for (Precision precision : {Precision::Exact, Precision::Fast}) {
    BackendOptions o;
    o.precision = precision;
    auto backend = createCudaBackend(w, o);
    const char* mode = precision == Precision::Exact ? "exact" : "fast";
    for (const auto& s : sizes) {
      for (int batch : {1, 16}) {
        const double kernel = kernelMs(w, precision, s[0], s[1], batch, prop.multiProcessorCount);
        const double e2e = endToEndMs(*backend, s[0], s[1], batch);
        const double mpix = double(s[0]) * s[1] * batch / 1e6 / (kernel / 1e3);
        std::printf("%-6s %4dx%-5d %5d %12.3f %12.1f %12.3f\n", mode, s[0], s[1], batch, kernel, mpix, e2e);
        log.timing("{\"mode\":\"" + std::string(mode) + "\",\"width\":" + std::to_string(s[0]) + ",\"height\":" +
                   std::to_string(s[1]) + ",\"batch\":" + std::to_string(batch) + ",\"kernel_ms\":" +
                   std::to_string(kernel) + ",\"mpix_per_s\":" + std::to_string(mpix) + ",\"enhance_ms\":" +
                   std::to_string(e2e) + "}");
      }
    }
  }
}
