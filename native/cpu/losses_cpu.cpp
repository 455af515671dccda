// evaluateCpu: splits the image pair into row bands, runs the loss kernel for the best
// instruction set on each band in its own thread, and merges the float64 partial sums in band
// order (so a given thread count always gives the same result).
#include <algorithm>
#include <array>
#include <exception>
#include <system_error>
#include <thread>
#include <vector>

#include "core/error.h"
#include "core/losses.h"
#include "cpu/isa.h"
#include "cpu/losses_cpu.h"
#include "cpu/thread_pool.h"

namespace flwnet::losses {
namespace {

// The same instruction-set choice as the inference kernels.
LossBandFn pickBandKernel(CpuIsaSetting setting) {
  switch (cpu::chooseIsa(setting, false).isa) {
    case cpu::CpuIsa::Avx512: return accumulateLossBandAvx512;
    case cpu::CpuIsa::Avx2: return accumulateLossBandAvx2;
    case cpu::CpuIsa::Scalar: break;
  }
  return accumulateLossBandGeneric;
}

const std::array<double, 256>& srgbLevelsToLinear() {
  static const std::array<double, 256> table = [] {
    std::array<double, 256> t{};
    for (int level = 0; level < 256; ++level) t[level] = srgbToLinear(level / 255.0);
    return t;
  }();
  return table;
}

// Rows per band: enough rows that the 10 extra rows each band reads for the window stay cheap.
constexpr int kMinRowsPerBand = 32;

}  // namespace

LossReport evaluateCpu(const PixelView& enhanced, const PixelView& reference, int threads, LossParts parts,
                       CpuIsaSetting isa) {
  validatePair(enhanced, reference);
  const LossBandFn kernel = pickBandKernel(isa);
  const double* lut = srgbLevelsToLinear().data();
  const int height = enhanced.height;
  int workers = cpu::resolveThreadCount(threads);
  workers = std::max(1, std::min(workers, height / kMinRowsPerBand));

  std::vector<LossSums> partial(workers);
  std::vector<std::vector<double>> workspaces(workers);
  for (auto& w : workspaces) w.resize(bandWorkspaceDoubles(enhanced.width));
  std::vector<std::exception_ptr> failures(workers);
  auto runBand = [&](int band) {
    try {
      const int begin = static_cast<int>(static_cast<long long>(height) * band / workers);
      const int end = static_cast<int>(static_cast<long long>(height) * (band + 1) / workers);
      kernel(enhanced, reference, lut, parts, begin, end, workspaces[band].data(), partial[band]);
    } catch (...) {
      failures[band] = std::current_exception();
    }
  };

  std::vector<std::thread> pool;
  int band = 1;
  try {
    for (; band < workers; ++band) pool.emplace_back(runBand, band);
  } catch (const std::system_error&) {
    // The system refused another thread: this thread runs the bands that did not get one.
  }
  for (; band < workers; ++band) runBand(band);
  runBand(0);
  for (auto& t : pool) t.join();
  for (auto& failure : failures)
    if (failure) std::rethrow_exception(failure);

  LossSums total;
  for (const auto& p : partial) total.merge(p);
  return finishLosses(total, enhanced.pixels(), parts);
}

}  // namespace flwnet::losses
