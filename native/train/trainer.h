// A training run's native state: float32 master weights, Adam's moments, the worker threads and
// the network's activation buffers. One step = forward, losses, backward, clipping, Adam.
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "core/engine_settings.h"
#include "cpu/thread_pool.h"
#include "train/train_batch.h"
#include "train/train_network.h"

namespace flwnet::train {

struct AdamConfig {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weightDecay = 0.0;
  bool decoupledWeightDecay = false;  // AdamW; otherwise weight decay is added to the gradient (L2)
  double clipGradNorm = 0.0;          // 0: no clipping
};

// Throws InvalidArgument for out-of-range hyper-parameters.
void validateAdam(const AdamConfig& adam);

struct StepOutcome {
  TrainLosses losses;
  double gradNorm = 0.0;
  bool applied = false;
};

struct OptimizerSnapshot {
  uint64_t step = 0;
  std::vector<float> m, v;
};

// The per-step planes kept between steps so that a step allocates nothing once sizes are known.
struct StepScratch {
  std::vector<double> enhanced, reference, dE;  // [B][3][H][W] each
};

// Forward, losses and backward for `params` on `batch`: losses, and into `grad` (kParamCount)
// the gradient of sum_i lossWeights[i] * loss_i.
TrainLosses computeLossAndGradient(TrainNetwork& network, cpu::ThreadPool& pool, StepScratch& scratch,
                                   const float* params, const TrainBatchView& batch,
                                   const std::array<double, kLossCount>& lossWeights, double* grad,
                                   const std::atomic<int32_t>* cancel);

class Trainer {
 public:
  Trainer(const float* params, size_t count, int threads, const AdamConfig& adam, CpuIsaSetting isa);

  StepOutcome step(const TrainBatchView& batch, double lr, const std::atomic<int32_t>* cancel);
  std::vector<float> params() const;
  OptimizerSnapshot optimizerState() const;
  void setOptimizerState(const OptimizerSnapshot& state);

 private:
  void applyAdam(double lr, double clipScale);

  std::mutex stepMutex_;           // one step at a time
  mutable std::mutex stateMutex_;  // params_, m_, v_, step_: held only to copy or update them, so
                                   // params() never waits for a step's forward and backward
  AdamConfig adam_;
  std::vector<float> params_, m_, v_;
  std::vector<double> grad_;
  uint64_t step_ = 0;
  cpu::ThreadPool pool_;
  TrainNetwork network_;
  StepScratch scratch_;
};

}  // namespace flwnet::train
