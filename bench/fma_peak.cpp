// The machine's fp32 fused-multiply-add peak, for `npm run bench` to put the engine's effective
// multiply-add rate next to: every thread runs independent FMA chains (enough accumulators to
// cover the FMA latency on two pipes) on the widest vectors the processor has, for a fixed
// time. Prints one JSON line: {"isa", "lanes", "threads", "seconds", "cpuSeconds", "gfma",
// "gfmaPerCpuSecond"}: gfma is billions of single-precision lane FMAs per second of wall time
// over all threads; gfmaPerCpuSecond per second of CPU time the threads were given (one core's
// peak, whatever else the machine runs).
// Usage: fma_peak THREADS SECONDS
#include <immintrin.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

constexpr int kChains = 12;       // independent accumulators: 2 pipes x 4-cycle latency, with room
constexpr long kInner = 1 << 14;  // iterations between clock checks

__attribute__((target("avx512f"))) float runAvx512(int rounds) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(0.001f * i);
  const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
  for (int r = 0; r < rounds; ++r) {
    for (long k = 0; k < kInner; ++k) {
#pragma GCC unroll 12
      for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  float out[16];
  _mm512_storeu_ps(out, sum);
  return out[0] + out[15];
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

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: fma_peak THREADS SECONDS\n");
    return 2;
  }
  const int threads = std::atoi(argv[1]);
  const double seconds = std::atof(argv[2]);
  if (threads < 1 || threads > 1024 || !(seconds > 0)) {
    std::fprintf(stderr, "fma_peak: THREADS must be 1..1024 and SECONDS > 0\n");
    return 2;
  }
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (!avx512 && !avx2) {
    std::fprintf(stderr, "fma_peak: the processor has no FMA vectors (AVX2/FMA or AVX-512)\n");
    return 3;
  }
  const int lanes = avx512 ? 16 : 8;
  // Each thread runs rounds of kInner x kChains FMAs until the time is up.
  auto once = [&] { return avx512 ? runAvx512(1) : runAvx2(1); };
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
  const double fmas = static_cast<double>(done.load()) * kInner * kChains * lanes;
  const double cpuSeconds = cpuNanos.load() / 1e9;
  std::printf("{\"isa\":\"%s\",\"lanes\":%d,\"threads\":%d,\"seconds\":%.3f,\"cpuSeconds\":%.3f,\"gfma\":%.3f,"
              "\"gfmaPerCpuSecond\":%.3f}\n",
              avx512 ? "avx512" : "avx2", lanes, threads, elapsed, cpuSeconds, fmas / elapsed / 1e9, fmas / cpuSeconds / 1e9);
  return 0;
}
