// The CPU engine's AVX-512 2-D Winograd block kernel alone (native/cpu/winograd2d_kernel.h), for
// `npm run bench:kernel`: nanoseconds per output pixel of one kernel call (six rows of `width`
// pixels) for each layer shape of e1..e6, with the input and output rows either in cache (one set of
// rows, reused) or cold (96 sets used in turn, 30 to 60 MB, more than the L3 of small machines). The engine's own pipeline time per
// layer lies between the two; the gap says how much its rings' trips through memory cost.
// Usage: winograd2d_kernel WIDTH SECONDS; prints JSON. Built by bench/winograd2d-kernel.mjs.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "cpu/winograd2d.h"

namespace {

using flwnet::cpu::BlockArgs;

struct Shape {
  const char* layers;
  int sources;
  int channels[2];
  int dilation;
};

constexpr Shape kShapes[] = {
    {"e1", 1, {4, 0}, 1},         {"e2", 1, {16, 0}, 1}, {"e3", 2, {16, 4}, 1},
    {"e4, e5", 1, {16, 0}, 2},   {"e6", 2, {16, 16}, 1},
};

struct RowSet {
  std::vector<float> in[2];
  std::vector<float> out;
};

// The engine's rings start on a cache line (row_rings.h); so do these rows.
float* lineAligned(std::vector<float>& v) {
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(v.data()) + 63) & ~uintptr_t(63));
}

// Seconds per call, the best of several timed rounds (the machine may be shared), cycling through
// `sets` independent sets of rows.
double timeCalls(const Shape& shape, int width, int sets, double seconds) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  const int slack = 64;
  std::vector<RowSet> rows(sets);
  for (RowSet& set : rows) {
    for (int s = 0; s < shape.sources; ++s) {
      set.in[s].resize(static_cast<size_t>(width + 2 * slack) * shape.channels[s] * 8 * shape.dilation + 16);
      for (float& f : set.in[s]) f = value(rng);
    }
    set.out.resize(static_cast<size_t>(width + slack) * 16 * 6 + 16);
  }
  int reduction = 0;
  for (int s = 0; s < shape.sources; ++s) reduction += shape.channels[s];
  std::vector<float> weights(static_cast<size_t>(64) * reduction * 16);
  for (float& f : weights) f = 0.05f * value(rng);
  std::vector<float> bias(16, 0.01f);
  float* scratch = static_cast<float*>(std::aligned_alloc(64, (flwnet::cpu::kBlockScratchFloats * 4 + 63) / 64 * 64));
  std::vector<BlockArgs> calls(sets);
  for (int i = 0; i < sets; ++i) {
    BlockArgs& a = calls[i];
    a.sourceCount = shape.sources;
    a.dilation = shape.dilation;
    a.weights = weights.data();
    a.bias = bias.data();
    a.count = width;
    a.scratch = scratch;
    for (int s = 0; s < shape.sources; ++s) {
      const size_t rowFloats = static_cast<size_t>(width + 2 * slack) * shape.channels[s];
      a.sources[s].channels = shape.channels[s];
      for (int r = 0; r < 8; ++r) a.sources[s].rows[r] = lineAligned(rows[i].in[s]) + slack * shape.channels[s] + r * shape.dilation * rowFloats;
    }
    for (int j = 0; j < 6; ++j) a.out[j] = lineAligned(rows[i].out) + static_cast<size_t>(j) * (width + slack) * 16;
  }
  for (int i = 0; i < 2 * sets; ++i) flwnet::cpu::winograd2dBlockAvx512(calls[i % sets]);
  double best = 1e30;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  do {
    const int batch = 4 * sets;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < batch; ++i) flwnet::cpu::winograd2dBlockAvx512(calls[i % sets]);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / batch);
  } while (std::chrono::steady_clock::now() < end);
  std::free(scratch);
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  const int width = argc > 1 ? std::atoi(argv[1]) : 330;
  const double seconds = argc > 2 ? std::atof(argv[2]) : 1.0;
  if (!__builtin_cpu_supports("avx512f")) {
    std::printf("{\"skipped\": \"this processor has no AVX-512\"}\n");
    return 0;
  }
  std::printf("{\"width\": %d, \"layers\": [", width);
  bool first = true;
  for (const Shape& shape : kShapes) {
    const double pixels = 6.0 * width;
    const double hot = timeCalls(shape, width, 1, seconds) / pixels * 1e9;
    const double cold = timeCalls(shape, width, 96, seconds) / pixels * 1e9;
    std::printf("%s\n  {\"layers\": \"%s\", \"inputChannels\": %d, \"dilation\": %d, \"nsPerPixelInCache\": %.2f, "
                "\"nsPerPixelCold\": %.2f}",
                first ? "" : ",", shape.layers, shape.channels[0] + shape.channels[1], shape.dilation, hot, cold);
    first = false;
  }
  std::printf("\n]}\n");
  return 0;
}
