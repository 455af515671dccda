// Standalone check of the CUDA backends against the golden fixtures and the CPU backend, plus
// timings: `gpu_check <weights.f32> <fixtures/enhance dir> [--json out.json] [--allow-no-gpu]
// [--quick] [--exact-kernels tile,stream]`.
// Exits non-zero on any failed check. Without a GPU it still checks the CPU backend against the
// fixtures and, with --allow-no-gpu, reports "no CUDA device" and exits 0.
// --exact-kernels checks each listed exact kernel (BackendOptions::cudaExactKernel) and ends with a
// table of their kernel-only timings; --quick leaves out the 8000x6000 comparison, the concurrency
// and out-of-memory checks and the larger standard timings.
#include <cuda_runtime.h>
#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <thread>

#include "core/backend.h"
#include "core/error.h"
#include "cuda/fused/global_branch.cuh"
#include "cuda/fused/local_fused.cuh"
#include "gpu_check_support.h"
#include "gpu_check_timing.h"

using namespace flwnet;
using namespace gpucheck;

namespace {

struct Options {
  std::string jsonPath;
  bool allowNoGpu = false;
  bool quick = false;
  std::vector<cuda::ExactKernel> exactKernels;  // empty: the backend's default only
};

struct Variant {
  std::string name;
  Precision precision;
  bool cudnn;
  cuda::ExactKernel kernel = cuda::ExactKernel::Tile;
  bool hugeImage = true;  // include the 8000x6000 CPU comparison
  cuda::FastKernel fastKernel = cuda::FastKernel::Wmma;
};

std::vector<Variant> gpuVariants(const Options& options) {
  std::vector<Variant> v;
  if (options.exactKernels.empty()) {
    v.push_back({"fused-exact", Precision::Exact, false, BackendOptions{}.cudaExactKernel});
  }
  for (size_t i = 0; i < options.exactKernels.size(); ++i) {
    const cuda::ExactKernel k = options.exactKernels[i];
    v.push_back({std::string("fused-exact-") + cuda::exactKernelName(k), Precision::Exact, false, k, i == 0});
  }
  v.push_back({"fused-fast", Precision::Fast, false});
  // The mma.sync fast kernel (BackendOptions::cudaFastKernel = Mma) on GPUs that have it (sm_80+).
  int device = 0, major = 0;
  if (cudaGetDevice(&device) == cudaSuccess &&
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 8) {
    v.push_back({"fused-fast-mma", Precision::Fast, false, cuda::ExactKernel::Tile, true, cuda::FastKernel::Mma});
  }
#if FLWNET_WITH_CUDNN
  v.push_back({"cudnn-exact", Precision::Exact, true});
  v.push_back({"cudnn-fast", Precision::Fast, true});
#endif
  for (Variant& x : v) x.hugeImage = x.hugeImage && !options.quick;
  return v;
}

std::unique_ptr<Backend> makeBackend(const ModelWeights& w, const Variant& v, size_t maxPixels = 0) {
  BackendOptions o;
  o.cudaExactKernel = v.kernel;
  o.cudaFastKernel = v.fastKernel;
  o.precision = v.precision;
  o.useCudnn = v.cudnn;
  o.maxPixels = maxPixels;
  return createCudaBackend(w, o);
}

EnhanceRequest request(const std::vector<uint8_t>& pixels, int w, int h, int ch, double exposure, OutputKind kind,
                       void* out) {
  EnhanceRequest r;
  r.input = ImageU8{pixels.data(), w, h, ch};
  r.exposure = exposure;
  r.outputKind = kind;
  r.output = out;
  return r;
}

// Fixture checks for one backend: features, curve, float output and 8-bit output.
void checkFixture(Log& log, Backend& backend, const std::string& label, const Fixture& f, bool fast,
                  const GlobalResult* reference) {
  const size_t pixels = static_cast<size_t>(f.width) * f.height;
  std::vector<float> out(pixels * 3);
  std::vector<uint8_t> out8(pixels * 3);
  GlobalResult g;
  EnhanceRequest r = request(f.input, f.width, f.height, 3, f.exposure, OutputKind::F32, out.data());
  backend.enhance(&r, 1, &g);
  r.outputKind = OutputKind::U8;
  r.output = out8.data();
  backend.enhance(&r, 1, nullptr);
  double featureErr = 0, curveErr = 0;
  for (int i = 0; i < kFeatureCount; ++i) featureErr = std::max(featureErr, std::fabs(g.features.f[i] - f.features[i]));
  for (int i = 0; i < kCurveCount; ++i)
    curveErr = std::max(curveErr, std::fabs(g.curve.a[i] - f.curve[i]) / std::max(1.0, std::fabs(f.curve[i])));
  const std::string at = label + " " + f.name;
  // The fixtures store some fractions rounded to float32 (see core/global_branch.cpp): 1e-7 covers it.
  log.check(at + " features", featureErr <= 1e-7, fmt("max|err| %.3g", featureErr));
  log.check(at + " curve", curveErr <= 1e-6, fmt("max rel err %.3g", curveErr));
  if (reference != nullptr) {
    const bool same = reference->features.f == g.features.f;
    log.check(at + " features == cpu (bitwise)", same, same ? "identical" : "differ");
  }
  const Diff d = compareFloat(out.data(), f.expected.data(), pixels, 3);
  int u8Max = 0;
  size_t mismatches = 0;
  for (size_t i = 0; i < out8.size(); ++i) {
    const int e = std::abs(static_cast<int>(out8[i]) - toU8(f.expected[i]));
    u8Max = std::max(u8Max, e);
    mismatches += e != 0;
  }
  if (fast) {
    log.check(at + " f32 psnr", d.psnr >= f.fastMinPsnr, fmt("%.2f dB (max|err| %.3g)", d.psnr, d.maxAbs));
    log.check(at + " u8", u8Max <= f.fastU8MaxAbs, fmt("max diff %.0f", u8Max));
  } else {
    log.check(at + " f32", d.maxAbs <= f.f32MaxAbs, fmt("max|err| %.3g (psnr %.1f dB)", d.maxAbs, d.psnr));
    const double fraction = static_cast<double>(mismatches) / out8.size();
    log.check(at + " u8", u8Max <= f.u8MaxAbs && fraction <= f.u8MismatchFraction,
              fmt("max diff %.0f, %.4f%% off", u8Max, 100 * fraction));
  }
}

// CPU vs GPU on random images; returns nothing, logs a check per size.
void checkAgainstCpu(Log& log, Backend& cpu, Backend& gpu, const Variant& v) {
  const int sizes[][2] = {{1, 1}, {1, 7}, {13, 1}, {19, 21}, {37, 41}, {640, 480}, {1023, 769}, {8000, 6000}};
  uint32_t seed = 1;
  for (const auto& s : sizes) {
    if (!v.hugeImage && s[0] * s[1] > 10 << 20) continue;
    for (int channels : {3, 4}) {
      if (channels == 4 && s[0] * s[1] > 1 << 20) continue;  // RGBA once per small/medium size
      const std::vector<uint8_t> img = randomImage(s[0], s[1], channels, seed++);
      const size_t n = static_cast<size_t>(s[0]) * s[1];
      std::vector<float> a(n * channels), b(n * channels);
      EnhanceRequest ra = request(img, s[0], s[1], channels, 0.45, OutputKind::F32, a.data());
      EnhanceRequest rb = ra;
      rb.output = b.data();
      cpu.enhance(&ra, 1, nullptr);
      gpu.enhance(&rb, 1, nullptr);
      const Diff d = compareFloat(a.data(), b.data(), n, channels);
      bool alphaOk = true;
      for (size_t p = 0; channels == 4 && p < n; ++p) alphaOk &= b[p * 4 + 3] == img[p * 4 + 3] / 255.0f;
      const std::string name = v.name + " vs cpu " + std::to_string(s[0]) + "x" + std::to_string(s[1]) +
                               (channels == 4 ? " rgba" : "");
      const bool ok = alphaOk && (v.precision == Precision::Exact ? d.maxAbs <= 1e-4 : d.psnr >= 45.0);
      log.check(name, ok, fmt("max|err| %.3g, psnr %.1f dB", d.maxAbs, d.psnr) + (alphaOk ? "" : ", alpha wrong"));
    }
  }
}

// Three threads enhancing different images at once must give what one thread gives.
void checkConcurrency(Log& log, Backend& gpu, const Variant& v) {
  constexpr int kThreads = 3, kRounds = 4;
  std::vector<std::vector<uint8_t>> images, expected(kThreads), got(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    images.push_back(randomImage(640 + 64 * t, 480, 3, 100 + t));
    expected[t].resize(images[t].size());
    EnhanceRequest r = request(images[t], 640 + 64 * t, 480, 3, 0.4, OutputKind::U8, expected[t].data());
    gpu.enhance(&r, 1, nullptr);
  }
  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<uint8_t> out(images[t].size());
      for (int round = 0; round < kRounds; ++round) {
        try {
          EnhanceRequest r = request(images[t], 640 + 64 * t, 480, 3, 0.4, OutputKind::U8, out.data());
          gpu.enhance(&r, 1, nullptr);
          mismatches += out != expected[t];
        } catch (const std::exception&) {
          ++errors;
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  log.check(v.name + " concurrent enhance from 3 threads", mismatches == 0 && errors == 0,
            fmt("%.0f mismatches, %.0f errors", mismatches.load(), errors.load()));
}

// Every listed exact kernel against the first on the same images: the kernels sum in the same
// order, so their outputs should be identical (the limit leaves room for a last-bit difference).
// 4000x3000 in float32 exceeds the backend's band budget, so it runs in bands.
void compareKernelOutputs(Log& log, const ModelWeights& w, const std::vector<Variant>& kernels) {
  const int sizes[][3] = {{1, 1, 3}, {37, 41, 4}, {1023, 769, 3}, {1920, 1080, 3}, {4000, 3000, 3}};
  std::vector<std::unique_ptr<Backend>> backends;
  for (const Variant& v : kernels) backends.push_back(makeBackend(w, v));
  for (const auto& s : sizes) {
    const std::vector<uint8_t> img = randomImage(s[0], s[1], s[2], 41 + s[0]);
    const size_t n = static_cast<size_t>(s[0]) * s[1];
    std::vector<float> first(n * s[2]), other(n * s[2]);
    EnhanceRequest r = request(img, s[0], s[1], s[2], 0.35, OutputKind::F32, first.data());
    backends[0]->enhance(&r, 1, nullptr);
    for (size_t k = 1; k < backends.size(); ++k) {
      r.output = other.data();
      backends[k]->enhance(&r, 1, nullptr);
      const Diff d = compareFloat(first.data(), other.data(), n, s[2]);
      const bool identical = first == other;
      log.check(kernels[k].name + " vs " + kernels[0].name + " " + std::to_string(s[0]) + "x" + std::to_string(s[1]),
                d.maxAbs <= 1e-5, identical ? std::string("identical") : fmt("max|diff| %.3g", d.maxAbs));
    }
  }
}

void checkKernelsAgree(Log& log, const ModelWeights& w, const std::vector<Variant>& kernels) {
  try {
    compareKernelOutputs(log, w, kernels);
  } catch (const std::exception& e) {
    log.check("exact kernels compared", false, e.what());
  }
}

// One call with 16 mixed-size images must equal 16 single calls.
void checkBatch(Log& log, Backend& gpu, const Variant& v) {
  std::vector<std::vector<uint8_t>> images, single, batched;
  std::vector<EnhanceRequest> requests;
  std::vector<GlobalResult> results(16), singleResults(16);
  for (int i = 0; i < 16; ++i) {
    const int w = 17 + 61 * i, h = 9 + 37 * ((i * 7) % 16), ch = i % 3 == 0 ? 4 : 3;
    images.push_back(randomImage(w, h, ch, 300 + i));
    single.emplace_back(images.back().size());
    batched.emplace_back(images.back().size());
  }
  for (int i = 0; i < 16; ++i) {
    const int w = 17 + 61 * i, h = 9 + 37 * ((i * 7) % 16), ch = i % 3 == 0 ? 4 : 3;
    EnhanceRequest r = request(images[i], w, h, ch, 0.3 + 0.02 * i, OutputKind::U8, single[i].data());
    gpu.enhance(&r, 1, &singleResults[i]);
    r.output = batched[i].data();
    requests.push_back(r);
  }
  gpu.enhance(requests.data(), requests.size(), results.data());
  int bad = 0;
  for (int i = 0; i < 16; ++i) bad += single[i] != batched[i] || results[i].curve.a != singleResults[i].curve.a;
  log.check(v.name + " batch of 16 mixed sizes == single calls", bad == 0, fmt("%.0f of 16 differ", bad));
}

template <typename F>
ErrorCode codeOf(F&& f, bool& threw) {
  threw = false;
  try {
    f();
  } catch (const Error& e) {
    threw = true;
    return e.code();
  }
  return ErrorCode::Internal;
}

// Cancellation, then an allocation larger than the device, each followed by a successful call.
void checkFailures(Log& log, const ModelWeights& w, const Variant& v) {
  auto gpu = makeBackend(w, v, size_t(1) << 40);
  const std::vector<uint8_t> img = randomImage(640, 480, 3, 7);
  std::vector<uint8_t> out(img.size());
  std::atomic<int32_t> cancel{1};
  EnhanceRequest r = request(img, 640, 480, 3, 0.4, OutputKind::U8, out.data());
  r.cancel = &cancel;
  bool threw;
  ErrorCode code = codeOf([&] { gpu->enhance(&r, 1, nullptr); }, threw);
  log.check(v.name + " cancelled request rejected", threw && code == ErrorCode::Cancelled, threw ? "threw" : "no throw");
  r.cancel = nullptr;
  code = codeOf([&] { gpu->enhance(&r, 1, nullptr); }, threw);
  log.check(v.name + " call after cancellation succeeds", !threw, threw ? "threw" : "ok");

  // 200000 x 200000 RGBA = 160 GB, more than any single GPU: reserved, never touched, no host RAM.
  const int side = 200000;
  const size_t bytes = size_t(side) * side * 4;
  void* huge = mmap(nullptr, bytes, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (huge == MAP_FAILED) {
    log.check(v.name + " out-of-memory request", false, "could not reserve address space for the test");
    return;
  }
  std::vector<uint8_t> dummy(16);
  EnhanceRequest big;
  big.input = ImageU8{static_cast<const uint8_t*>(huge), side, side, 4};
  big.output = dummy.data();  // never reached: allocation fails first
  code = codeOf([&] { gpu->enhance(&big, 1, nullptr); }, threw);
  munmap(huge, bytes);
  log.check(v.name + " out-of-memory request rejected", threw && code == ErrorCode::OutOfMemory,
            threw ? std::string("code ") + errorCodeName(code) : "no throw");
  code = codeOf([&] { gpu->enhance(&r, 1, nullptr); }, threw);
  log.check(v.name + " call after out-of-memory succeeds", !threw, threw ? "threw" : "ok");
}

// Reads the command line; returns false (after printing why) when it is not understood.
bool parseOptions(int argc, char** argv, Options& options) {
  for (int i = 3; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) {
      options.jsonPath = argv[++i];
    } else if (a == "--allow-no-gpu") {
      options.allowNoGpu = true;
    } else if (a == "--quick") {
      options.quick = true;
    } else if (a == "--exact-kernels" && i + 1 < argc) {
      std::string list = std::string(argv[++i]) + ",";
      for (size_t at = list.find(','); at != std::string::npos; list.erase(0, at + 1), at = list.find(',')) {
        const std::string name = list.substr(0, at);
        if (name != "tile" && name != "stream") {
          std::fprintf(stderr, "unknown exact kernel \"%s\" (tile or stream)\n", name.c_str());
          return false;
        }
        options.exactKernels.push_back(name == "tile" ? cuda::ExactKernel::Tile : cuda::ExactKernel::Stream);
      }
    } else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return false;
    }
  }
  return true;
}

// Every check of one GPU variant; the fused exact variants add their counts to `reports`.
void checkVariant(Log& log, const ModelWeights& weights, const Variant& v, const Options& options,
                  const std::vector<Fixture>& fixtures, const std::vector<GlobalResult>& cpuGlobals, Backend& cpu,
                  std::vector<ExactKernelReport>& reports) {
  const int failuresBefore = log.failures(), checksBefore = log.checks();
  try {
    auto gpu = makeBackend(weights, v);
    std::printf("backend: %s\n", gpu->description().c_str());
    const bool fast = v.precision == Precision::Fast;
    for (size_t i = 0; i < fixtures.size(); ++i) checkFixture(log, *gpu, v.name, fixtures[i], fast, &cpuGlobals[i]);
    checkAgainstCpu(log, cpu, *gpu, v);
    if (!options.quick) checkConcurrency(log, *gpu, v);
    checkBatch(log, *gpu, v);
    gpu.reset();
    if (!options.quick) checkFailures(log, weights, v);
  } catch (const std::exception& e) {
    log.check(v.name + " ran to the end", false, e.what());
  }
  for (ExactKernelReport& r : reports) {
    if (v.precision == Precision::Exact && !v.cudnn && r.kernel == v.kernel) {
      r.failures = log.failures() - failuresBefore;
      r.checks = log.checks() - checksBefore;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (argc < 3 || !parseOptions(argc, argv, options)) {
    std::fprintf(stderr,
                 "usage: gpu_check <weights.f32> <fixtures/enhance dir> [--json out] [--allow-no-gpu] [--quick] "
                 "[--exact-kernels tile,stream]\n");
    return 2;
  }
  Log log;
  std::string device = "none";
  std::vector<ExactKernelReport> reports;
  for (cuda::ExactKernel k : options.exactKernels) {
    ExactKernelReport report;
    report.kernel = k;
    reports.push_back(report);
  }
  try {
    const std::vector<uint8_t> raw = readFile(argv[1]);
    const ModelWeights weights(reinterpret_cast<const float*>(raw.data()), raw.size() / sizeof(float));
    std::vector<Fixture> fixtures;
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(argv[2])) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const auto& n : names) fixtures.push_back(loadFixture(std::string(argv[2]) + "/" + n, n));

    auto cpu = createCpuBackend(weights, BackendOptions{});
    std::vector<GlobalResult> cpuGlobals;
    for (const Fixture& f : fixtures) {
      checkFixture(log, *cpu, "cpu", f, false, nullptr);
      cpuGlobals.push_back(cpu->inspect(ImageU8{f.input.data(), f.width, f.height, 3}, f.exposure));
    }
    int devices = 0;
    if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
      std::printf("no CUDA device\n");
      if (!options.jsonPath.empty()) log.writeJson(options.jsonPath, device);
      return (options.allowNoGpu && log.failures() == 0) ? 0 : 1;
    }
    cudaDeviceProp prop{};
    cudaGetDeviceProperties(&prop, 0);
    device = prop.name;
    std::printf("device: %s (%d SMs)\n", prop.name, prop.multiProcessorCount);
    std::vector<Variant> exactKernels;
    for (const Variant& v : gpuVariants(options)) {
      checkVariant(log, weights, v, options, fixtures, cpuGlobals, *cpu, reports);
      if (v.precision == Precision::Exact && !v.cudnn && !options.exactKernels.empty()) exactKernels.push_back(v);
    }
    if (exactKernels.size() > 1) checkKernelsAgree(log, weights, exactKernels);
    try {
      timeExactKernels(reports, weights, options.quick);
    } catch (const std::exception& e) {
      log.check("exact kernel timings", false, e.what());
    }
    runTimings(log, weights, options.quick);
  } catch (const std::exception& e) {
    log.check("gpu_check setup", false, e.what());
  }
  reportExactKernels(log, reports);
  if (!options.jsonPath.empty()) log.writeJson(options.jsonPath, device);
  std::printf("%d failure(s)\n", log.failures());
  return log.failures() == 0 ? 0 : 1;
}
