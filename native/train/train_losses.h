// The paper's five losses on a batch (docs/numerics.md §8 and 8) and their gradient with respect
// to the enhanced images, in double. L1, SSIM and colour average over everything; brightness and
// structure take c_k per image and channel (channel minima held constant for the gradient).
#pragma once
#include <array>
#include <cstdint>
#include <vector>

#include "cpu/thread_pool.h"
#include "train/train_batch.h"

namespace flwnet::train {

struct LossBatch {
  int batch = 0, height = 0, width = 0;
  const double* enhanced = nullptr;   // [B][3][H][W]
  const double* reference = nullptr;  // [B][3][H][W]
};

// Loss values, and into `dE` ([B][3][H][W], overwritten) the gradient of
// sum_i weights[i] * loss_i (order l1, ssimLoss, color, brightness, structure).
TrainLosses batchLossesAndGradient(const LossBatch& batch, const std::array<double, kLossCount>& weights,
                                   std::vector<double>& dE, cpu::ThreadPool& pool);

// The references as planar double [B][3][H][W] (bytes / 255).
void referencePlanes(const TrainBatchView& batch, std::vector<double>& out);

}  // namespace flwnet::train
