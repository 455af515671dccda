// The CPU backend: the global branch in double, then the local branch streamed through row rings
// (tile_pipeline.h) on a persistent pool of worker threads, with kernels chosen per processor.
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/coarse_brightness.h"
#include "core/error.h"
#include "core/vlevels.h"
#include "block_pipeline.h"
#include "isa.h"
#include "local_schedule.h"
#include "packed_network.h"
#include "thread_pool.h"
#include "tile_pipeline.h"

namespace flwnet {
namespace {

// Strips this narrow keep the row schedule's rings (about 0.75 MB) within a 1 MB L2 cache. Measured
// against 256 on 2 threads: fewer halo cuts made 600x400 about 5% and 1920x1080 about 2% faster.
// The block schedule's rings hold more rows (blocks of 6 and 12 and the lags between them), but
// its strips of 64 to 640 columns were no faster than 320 (docs/cpu.md).
constexpr int kStripWidth = 320;
// Rows per work unit of the level count: big enough to amortise the per-unit tally flush.
constexpr int kCountRowsPerUnit = 256;

// The tile pipeline's rings and sources come from kCpuSchedule; checked once per process.
void checkCpuSchedule() {
  static const bool checked = [] {
    checkScheduleAgainstGraph("CPU", cpu::kCpuSchedule, cpu::kRingChannels.data(), cpu::kRingChannels.size());
    return true;
  }();
  (void)checked;
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(const ModelWeights& weights, const BackendOptions& options)
      : Backend(options.maxPixels),
        weights_((checkCpuSchedule(), weights)),
        network_(cpu::packNetwork(weights)),
        isa_(cpu::chooseIsa(options.cpuIsa, options.cpuWinograd)),
        pool_(cpu::resolveThreadCount(options.threads)),
        workers_(pool_.size()),
        block_(cpu::blockKernelFor(isa_, options.cpuKernel)) {
    if (block_ != nullptr) {
      blockNetwork_ = cpu::packBlockNetwork(network_);
      blockWorkers_.resize(pool_.size());
    }
  }

  std::string deviceName() const override { return "cpu"; }

  std::string description() const override {
    const int n = pool_.size();
    const char* conv = block_ != nullptr ? ", winograd 2d" : isa_.kernels.winograd != nullptr ? ", winograd" : "";
    return "cpu (" + std::to_string(n) + (n == 1 ? " thread, " : " threads, ") + cpu::isaName(isa_.isa) + conv + ")";
  }

  void enhanceImpl(const EnhanceRequest* requests, size_t count, GlobalResult* results) override {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < count; ++i) {
      GlobalResult result = globalBranch(requests[i].input, requests[i].exposure, requests[i].cancel);
      localBranch(requests[i], result.curve);
      if (results != nullptr) results[i] = result;
    }
  }

  GlobalResult inspectImpl(const ImageU8& image, double exposure) override {
    std::lock_guard<std::mutex> lock(mutex_);
    return globalBranch(image, exposure, nullptr);
  }

 private:
  GlobalResult globalBranch(const ImageU8& image, double exposure, const std::atomic<int32_t>* cancel) {
    const size_t units = static_cast<size_t>((image.height + kCountRowsPerUnit - 1) / kCountRowsPerUnit);
    partialCounts_.assign(workers_.size(), LevelCounts{});
    pool_.run(units, [&](size_t unit, int worker) {
      throwIfCancelled(cancel);
      const int begin = static_cast<int>(unit) * kCountRowsPerUnit;
      addVLevels(image, begin, std::min(image.height, begin + kCountRowsPerUnit), partialCounts_[worker]);
    });
    LevelCounts counts{};
    for (const LevelCounts& p : partialCounts_) {
      for (int level = 0; level < kLevels; ++level) counts[level] += p[level];
    }
    GlobalResult result;
    result.features = featuresFromLevelCounts(counts, exposure);
    result.curve = curveFromFeatures(weights_, result.features);
    return result;
  }

  void localBranch(const EnhanceRequest& request, const CurveParams& curve) {
    throwIfCancelled(request.cancel);
    computeCoarseBrightness(request.input, coarse_);
    cpu::LocalRequest local;
    local.image = request.input;
    local.coarse = &coarse_;
    local.retouch = retouchTable(curve);
    local.outputKind = request.outputKind;
    local.output = request.output;
    local.cancel = request.cancel;
    cpu::planTiles(request.input.width, request.input.height, kStripWidth, tiles_);
    pool_.run(tiles_.size(), [&](size_t unit, int worker) {
      throwIfCancelled(request.cancel);
      if (block_ != nullptr) {
        blockWorkers_[worker].run(network_, blockNetwork_, isa_.kernels, block_, local, tiles_[unit]);
      } else {
        workers_[worker].run(network_, isa_.kernels, local, tiles_[unit]);
      }
    });
  }

  const ModelWeights weights_;
  CoarseBrightness coarse_;  // per-call scratch, reused (calls are serialised by the backend's mutex)
  const cpu::PackedNetwork network_;
  const cpu::IsaChoice isa_;
  std::mutex mutex_;  // one request at a time owns the pool and the scratch
  cpu::ThreadPool pool_;
  std::vector<cpu::TileWorker> workers_;
  // The 2-D Winograd schedule (block_pipeline.h), where chosen; the row schedule otherwise.
  const cpu::BlockKernel block_;
  cpu::BlockNetwork blockNetwork_;
  std::vector<cpu::BlockWorker> blockWorkers_;
  // Per-request scratch, kept between requests (the mutex gives one request at a time).
  std::vector<LevelCounts> partialCounts_;
  std::vector<cpu::Tile> tiles_;
};

}  // namespace

std::unique_ptr<Backend> createCpuBackend(const ModelWeights& weights, const BackendOptions& options) {
  return std::make_unique<CpuBackend>(weights, options);
}

}  // namespace flwnet
