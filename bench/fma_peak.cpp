// The machine's fp32 fused-multiply-add peak, for `npm run bench` to put the engine's effective
// multiply-add rate next to: every thread runs independent FMA chains (enough accumulators to
// cover the FMA latency on two pipes) on the widest vectors the processor has, for a fixed
// time. Prints one JSON line: {"isa", "lanes", "threads", "seconds", "cpuSeconds", "gfma",
// "gfmaPerCpuSecond"}: gfma is billions of single-precision lane FMAs per second of wall time
// over all threads; gfmaPerCpuSecond per second of CPU time the threads were given (one core's
// peak, whatever else the machine runs). Where the processor has AVX512-BF16 it then measures
// `vdpbf16ps` the same way (each lane adds two bf16 products to an fp32 sum, as a bf16 engine
// would): "bf16" holds its multiply-add rate, {"gmac", "gmacPerCpuSecond"}, or null without it.
// `fma_peak --store-cost SECONDS` instead prints {"storeCostInFmaSlots"} (AVX-512 only).
// Usage: fma_peak THREADS SECONDS | fma_peak --store-cost SECONDS
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;       // independent accumulators: 2 pipes x 4-cycle latency, with room
constexpr long kInner = 1 << 14;  // iterations between clock checks

// The chains' sum, so that the compiler keeps every one of them.
__attribute__((target("avx512f"))) float sumOfChains(const __m512 (&acc)[kChains]) {
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, sum);
  return out[0] + out[15];
}

// With kStores, each step also stores kStoresPerStep of the chains to `ring` (16 KiB, so it stays
// in L1): storeCostInFmaSlots compares the two loops.
constexpr int kStoresPerStep = 4;

template <bool kStores = false>
__attribute__((target("avx512f"))) float runAvx512(int rounds, float* ring = nullptr) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int r = 0; r < rounds; ++r) {
    for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
      if constexpr (kStores) {
#pragma GCC unroll 4
        for (int i = 0; i < kStoresPerStep; ++i) _mm512_store_ps(ring + ((k * kStoresPerStep + i) & 255) * 16, acc[i]);
      }
    }
  }
  return sumOfChains(acc);
}

// The FMA slots one 64-byte store takes when it runs among FMAs, on one thread: 0 where the store
// units work beside the FMA pipes, about 2 where each store takes the turns of two FMAs (the 2-D
// Winograd kernel stores about five vectors per output pixel; docs/cpu.md). The two loops
// alternate and each keeps its best round, so a busy moment of a shared machine hits both.
double storeCostInFmaSlots(double seconds) {
  alignas(64) static float ring[4096];
  const auto timeRound = [](auto run) {
    const auto t0 = std::chrono::steady_clock::now();
    volatile float sink = run();
    (void)sink;
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  double fmaOnly = 1e30, withStores = 1e30;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  do {
    fmaOnly = std::min(fmaOnly, timeRound([] { return runAvx512<false>(1); }));
    withStores = std::min(withStores, timeRound([] { return runAvx512<true>(1, ring); }));
  } while (std::chrono::steady_clock::now() < end);
  return (withStores - fmaOnly) / kStoresPerStep / (fmaOnly / kChains);
}

__attribute__((target("avx2,fma"))) float runAvx2(int rounds) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(0.001f * i);
  const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
  for (int r = 0; r < rounds; ++r) {
    for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
  }
  float out[8];
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  _mm256_storeu_ps(out, sum);
  return out[0] + out[7];
}

__attribute__((target("avx512f,avx512bf16"))) float runBf16(int rounds) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  // bf16 1.0 and 2^-25 in every half: the sums stay finite and change on every step.
  const __m512bh a = (__m512bh)_mm512_set1_epi16(0x3F80), b = (__m512bh)_mm512_set1_epi16(0x3300);
  for (int r = 0; r < rounds; ++r) {
    for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
  }
  return sumOfChains(acc);
}

struct Rate {
  double elapsed;     // wall seconds
  double cpuSeconds;  // CPU seconds the threads got
  long rounds;        // calls of the kernel over all threads
};

// Runs `once` (one round of kInner x kChains vector operations) on every thread until the time is up.
template <class Once>
Rate measure(int threads, double seconds, Once once) {
  std::atomic<long> done{0};
  std::atomic<long> cpuNanos{0};  // CPU time the threads got (less than wall time on a busy machine)
  std::vector<std::thread> pool;
  const auto t0 = std::chrono::steady_clock::now();
  const auto deadline = t0 + std::chrono::duration<double>(seconds);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      timespec c0{}, c1{};
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
      long rounds = 0;
      volatile float sink = 0;
      while (std::chrono::steady_clock::now() < deadline) {
        sink = once();
        ++rounds;
      }
      (void)sink;
      clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
      cpuNanos += (c1.tv_sec - c0.tv_sec) * 1000000000L + (c1.tv_nsec - c0.tv_nsec);
      done += rounds;
    });
  }
  for (std::thread& th : pool) th.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return Rate{elapsed, cpuNanos.load() / 1e9, done.load()};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fma_peak THREADS SECONDS | fma_peak --store-cost SECONDS\n");
    return 2;
  }
  __builtin_cpu_init();
  if (std::string(argv[1]) == "--store-cost") {
    const double seconds = std::atof(argv[2]);
    if (!(seconds > 0) || !__builtin_cpu_supports("avx512f")) {
      std::fprintf(stderr, "fma_peak: --store-cost needs SECONDS > 0 and AVX-512\n");
      return 3;
    }
    std::printf("{\"storeCostInFmaSlots\":%.3f}\n", storeCostInFmaSlots(seconds));
    return 0;
  }
  const int threads = std::atoi(argv[1]);
  const double seconds = std::atof(argv[2]);
  if (threads < 1 || threads > 1024 || !(seconds > 0)) {
    std::fprintf(stderr, "fma_peak: THREADS must be 1..1024 and SECONDS > 0\n");
    return 2;
  }
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!avx512 && !avx2) {
    std::fprintf(stderr, "fma_peak: the processor has no FMA vectors (AVX2/FMA or AVX-512)\n");
    return 3;
  }
  const int lanes = avx512 ? 16 : 8;
  const Rate fma = measure(threads, seconds, [&] { return avx512 ? runAvx512(1) : runAvx2(1); });
  const double fmas = static_cast<double>(fma.rounds) * kInner * kChains * lanes;
  char bf16[128] = "null";
  if (avx512 && __builtin_cpu_supports("avx512bf16")) {
    const Rate dot = measure(threads, seconds, [] { return runBf16(1); });
    const double macs = static_cast<double>(dot.rounds) * kInner * kChains * 32;  // 16 lanes x 2 products
    std::snprintf(bf16, sizeof bf16, "{\"gmac\":%.3f,\"gmacPerCpuSecond\":%.3f}", macs / dot.elapsed / 1e9,
                  macs / dot.cpuSeconds / 1e9);
  }
  std::printf("{\"isa\":\"%s\",\"lanes\":%d,\"threads\":%d,\"seconds\":%.3f,\"cpuSeconds\":%.3f,\"gfma\":%.3f,"
              "\"gfmaPerCpuSecond\":%.3f,\"bf16\":%s}\n",
              avx512 ? "avx512" : "avx2", lanes, threads, fma.elapsed, fma.cpuSeconds, fmas / fma.elapsed / 1e9,
              fmas / fma.cpuSeconds / 1e9, bf16);
  return 0;
}
