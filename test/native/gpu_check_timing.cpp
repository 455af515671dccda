// Timings for gpu_check: the fused kernels alone (CUDA events around the global branch, coarse grid
// and local-branch launches; what a PyTorch forward pass is compared with) and enhance() end to end (host
// staging, transfers and synchronisation included), median of several runs after warm-up; and the
// exact kernels side by side.
#include "gpu_check_timing.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <memory>

#include "core/backend.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/runtime/device_memory.h"
#include "cuda/fused/global_branch.cuh"
#include "cuda/fused/local_fused.cuh"
#include "cuda/mma/level_counts_warp.cuh"
#include "gpu_check_support.h"

using namespace flwnet;
using namespace gpucheck;

namespace {

// Warm-up and timed runs; --quick takes fewer.
struct RunCounts {
  int warmup;
  int runs;
};
RunCounts runCounts(bool quick) { return quick ? RunCounts{1, 7} : RunCounts{3, 20}; }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device-side inputs and buffers for `batch` images of one size, and the launch parameters.
struct KernelBench {
  cuda::DeviceMemory input, coarse, output, weights, biases, dense, globals;
  cuda::GlobalBranchParams global;
  cuda::LocalParams local;

  KernelBench(const ModelWeights& w, Precision precision, int width, int height, int batch) {
    const size_t bytes = size_t(width) * height * 3;
    const size_t cells = size_t(cuda::coarseCellCount(width)) * cuda::coarseCellCount(height);
    input.reserve(bytes * batch);
    coarse.reserve(sizeof(float) * cells * batch);
    output.reserve(bytes * batch);
    // One image repeated: the kernels' speed does not depend on the content, and making 16 large
    // random images on the host would take longer than timing them.
    const std::vector<uint8_t> img = randomImage(width, height, 3, 900);
    for (int b = 0; b < batch; ++b) {
      FLWNET_CUDA_CHECK(cudaMemcpy(input.data() + b * bytes, img.data(), bytes, cudaMemcpyHostToDevice));
    }
    const std::vector<uint8_t> packed = cuda::packLocalWeights(w, precision);
    weights.reserve(packed.size());
    FLWNET_CUDA_CHECK(cudaMemcpy(weights.data(), packed.data(), packed.size(), cudaMemcpyHostToDevice));
    const std::vector<float> bias = cuda::packLocalBiases(w);
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
    local.weights = weights.data();
    local.biases = reinterpret_cast<const float*>(biases.data());
    for (int b = 0; b < batch; ++b) {
      global.batch.image[b] = cuda::DeviceImage{input.data() + b * bytes, width, height, 3};
      global.batch.exposure[b] = 0.4;
      cuda::LocalImage& li = local.images[b];
      li.coarse = reinterpret_cast<float*>(coarse.data()) + b * cells;
      li.retouch = global.out.retouch + b * kLevels;
      li.output = output.data() + b * bytes;
      li.cellsX = cuda::coarseCellCount(width);
      li.cellsY = cuda::coarseCellCount(height);
      li.bandRows = height;
    }
    local.batch = global.batch;
  }

  void run(Precision precision, cuda::ExactKernel kernel, int sms, cuda::FastKernel fast = cuda::FastKernel::Wmma) {
    cuda::launchGlobalBranch(global, sms, nullptr);
    cuda::launchCoarseGrid(local, nullptr);
    cuda::launchLocalFused(local, precision, nullptr, kernel, fast);
  }
};

int multiprocessors() {
  cudaDeviceProp prop{};
  FLWNET_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return prop.multiProcessorCount;
}

double kernelMs(KernelBench& bench, Precision precision, cuda::ExactKernel kernel, RunCounts counts,
                cuda::FastKernel fast = cuda::FastKernel::Wmma) {
  const int sms = multiprocessors();
  cudaEvent_t start, stop;
  FLWNET_CUDA_CHECK(cudaEventCreate(&start));
  FLWNET_CUDA_CHECK(cudaEventCreate(&stop));
  for (int i = 0; i < counts.warmup; ++i) bench.run(precision, kernel, sms, fast);
  std::vector<double> times;
  for (int i = 0; i < counts.runs; ++i) {
    FLWNET_CUDA_CHECK(cudaEventRecord(start));
    bench.run(precision, kernel, sms, fast);
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

double endToEndMs(Backend& backend, int width, int height, int batch, RunCounts counts) {
  const std::vector<uint8_t> image = randomImage(width, height, 3, 500);
  std::vector<std::vector<uint8_t>> outputs;
  std::vector<EnhanceRequest> requests;
  for (int b = 0; b < batch; ++b) outputs.emplace_back(image.size());
  for (int b = 0; b < batch; ++b) {
    EnhanceRequest r;
    r.input = ImageU8{image.data(), width, height, 3};
    r.output = outputs[b].data();
    requests.push_back(r);
  }
  std::vector<double> times;
  for (int i = 0; i < counts.warmup + (counts.runs + 1) / 2; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    backend.enhance(requests.data(), requests.size(), nullptr);
    const auto t1 = std::chrono::steady_clock::now();
    if (i >= counts.warmup) times.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  return median(times);
}

}  // namespace

static void timeLevelCounts(Log& log, const ModelWeights& w, bool quick);

void runTimings(Log& log, const ModelWeights& w, bool quick) {
  const RunCounts counts = runCounts(quick);
  std::vector<ComparisonCase> cases = {{640, 480, 1}, {640, 480, 16}, {1920, 1080, 1},
                                       {1920, 1080, 16}, {3840, 2160, 1}, {3840, 2160, 16}};
  if (quick) cases = {{1920, 1080, 1}, {1920, 1080, 16}};
  const cuda::ExactKernel defaultKernel = BackendOptions{}.cudaExactKernel;
  std::printf("\n%-8s %-10s %5s %12s %12s %12s\n", "mode", "size", "batch", "kernel ms", "MPix/s", "enhance ms");
  // Fast mode twice: the default WMMA kernel and the mma.sync one (sm_80+; elsewhere WMMA again).
  struct Mode {
    const char* name;
    Precision precision;
    cuda::FastKernel fast;
  };
  for (const Mode& m : {Mode{"exact", Precision::Exact, cuda::FastKernel::Wmma},
                        Mode{"fast", Precision::Fast, cuda::FastKernel::Wmma},
                        Mode{"fast-mma", Precision::Fast, cuda::FastKernel::Mma}}) {
    const Precision precision = m.precision;
    BackendOptions o;
    o.precision = precision;
    o.cudaFastKernel = m.fast;
    auto backend = createCudaBackend(w, o);
    const char* mode = m.name;
    for (const ComparisonCase& c : cases) {
      KernelBench bench(w, precision, c.width, c.height, c.batch);
      const double kernel = kernelMs(bench, precision, defaultKernel, counts, m.fast);
      const double e2e = endToEndMs(*backend, c.width, c.height, c.batch, counts);
      const double mpix = double(c.width) * c.height * c.batch / 1e6 / (kernel / 1e3);
      std::printf("%-8s %4dx%-5d %5d %12.3f %12.1f %12.3f\n", mode, c.width, c.height, c.batch, kernel, mpix, e2e);
      std::fflush(stdout);  // a run cut off by a time limit still shows the rows it finished
      log.timing("{\"mode\":\"" + std::string(mode) + "\",\"width\":" + std::to_string(c.width) + ",\"height\":" +
                 std::to_string(c.height) + ",\"batch\":" + std::to_string(c.batch) + ",\"kernel_ms\":" +
                 std::to_string(kernel) + ",\"mpix_per_s\":" + std::to_string(mpix) + ",\"enhance_ms\":" +
                 std::to_string(e2e) + "}");
    }
  }
  timeLevelCounts(log, w, quick);
}

// Kernel-only time of the global branch's level counting at 1920x1080 on a dark image (every pixel
// at a few levels: the worst case for a shared histogram), default kernel against the warp-
// aggregated one (BackendOptions::cudaLevelCounts = Warp); the target for the latter is under 30 us.
static void timeLevelCounts(Log& log, const ModelWeights& w, bool quick) {
  KernelBench bench(w, Precision::Exact, 1920, 1080, 1);
  const std::vector<uint8_t> dark(size_t(1920) * 1080 * 3, 3);
  FLWNET_CUDA_CHECK(cudaMemcpy(bench.input.data(), dark.data(), dark.size(), cudaMemcpyHostToDevice));
  const int sms = multiprocessors();
  std::string json = "[";
  for (const CudaLevelCounts counts : {CudaLevelCounts::Shared, CudaLevelCounts::Warp}) {
    const char* variant = cuda::levelCountsName(counts);
    bench.global.levelCounts = counts;
    std::vector<double> times;
    cudaEvent_t start, stop;
    FLWNET_CUDA_CHECK(cudaEventCreate(&start));
    FLWNET_CUDA_CHECK(cudaEventCreate(&stop));
    const RunCounts runs = runCounts(quick);
    for (int i = 0; i < runs.warmup + runs.runs; ++i) {
      FLWNET_CUDA_CHECK(cudaEventRecord(start));
      cuda::launchLevelCounts(bench.global, sms, nullptr);
      FLWNET_CUDA_CHECK(cudaEventRecord(stop));
      FLWNET_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0;
      FLWNET_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (i >= runs.warmup) times.push_back(ms);
    }
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
    const double us = median(times) * 1e3;
    std::printf("level counts %-6s 1920x1080 dark: %8.1f us (kernel only, with the clearing memset)\n", variant, us);
    json += std::string(json.size() > 1 ? "," : "") + "{\"variant\":\"" + variant + "\",\"us\":" + std::to_string(us) + "}";
  }
  log.section("level_counts", json + "]");
}

std::vector<ComparisonCase> exactComparisonCases() {
  return {{1920, 1080, 1}, {1920, 1080, 16}, {3840, 2160, 1}, {3840, 2160, 16}};
}

void timeExactKernels(std::vector<ExactKernelReport>& reports, const ModelWeights& w, bool quick) {
  if (reports.empty()) return;
  for (const ComparisonCase& c : exactComparisonCases()) {
    KernelBench bench(w, Precision::Exact, c.width, c.height, c.batch);
    for (ExactKernelReport& r : reports) {
      r.kernelMs.push_back(kernelMs(bench, Precision::Exact, r.kernel, runCounts(quick)));
      std::printf("exact %-6s %4dx%-5d %5d %12.3f ms (kernel only)\n", cuda::exactKernelName(r.kernel), c.width,
                  c.height, c.batch, r.kernelMs.back());
      std::fflush(stdout);
    }
  }
}

void reportExactKernels(Log& log, const std::vector<ExactKernelReport>& reports) {
  if (reports.empty()) return;
  const std::vector<ComparisonCase> cases = exactComparisonCases();
  std::printf("\nexact kernels (kernel-only ms, CUDA events; speed-up against %s)\n%-8s %8s",
              cuda::exactKernelName(reports[0].kernel), "kernel", "checks");
  for (const ComparisonCase& c : cases) {
    const std::string label = std::to_string(c.width) + "x" + std::to_string(c.height) + " b" + std::to_string(c.batch);
    std::printf(" %18s", label.c_str());
  }
  std::printf("\n");
  std::string json = "[";
  for (size_t k = 0; k < reports.size(); ++k) {
    const ExactKernelReport& r = reports[k];
    const std::string checks = std::to_string(r.checks - r.failures) + "/" + std::to_string(r.checks);
    std::printf("%-8s %8s", cuda::exactKernelName(r.kernel), checks.c_str());
    json += std::string(k ? "," : "") + "{\"kernel\":\"" + cuda::exactKernelName(r.kernel) +
            "\",\"checks\":" + std::to_string(r.checks) + ",\"failures\":" + std::to_string(r.failures) +
            ",\"timings\":[";
    for (size_t i = 0; i < cases.size() && i < r.kernelMs.size(); ++i) {
      const double speedup = reports[0].kernelMs[i] / r.kernelMs[i];
      std::printf(" %9.3f (%4.2fx)", r.kernelMs[i], speedup);
      json += std::string(i ? "," : "") + "{\"width\":" + std::to_string(cases[i].width) + ",\"height\":" +
              std::to_string(cases[i].height) + ",\"batch\":" + std::to_string(cases[i].batch) +
              ",\"kernel_ms\":" + std::to_string(r.kernelMs[i]) + ",\"speedup\":" + std::to_string(speedup) + "}";
    }
    std::printf("\n");
    json += "]}";
  }
  std::fflush(stdout);
  log.section("exact_kernels", json + "]");
}
