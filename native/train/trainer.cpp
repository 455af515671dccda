#include "train/trainer.h"

#include <cmath>
#include <string>

#include "core/error.h"
#include "core/model.h"
#include "train/train_losses.h"

namespace flwnet::train {
namespace {

void requireFinite(const float* values, size_t count, const char* what) {
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(values[i])) throw Error(ErrorCode::InvalidArgument, std::string(what) + " holds a non-finite value");
  }
}

}  // namespace

void validateAdam(const AdamConfig& a) {
  auto bad = [](const std::string& what) { throw Error(ErrorCode::InvalidArgument, "Adam: " + what); };
  if (!(a.beta1 >= 0.0 && a.beta1 < 1.0)) bad("beta1 must be in [0, 1)");
  if (!(a.beta2 >= 0.0 && a.beta2 < 1.0)) bad("beta2 must be in [0, 1)");
  if (!(a.eps > 0.0 && std::isfinite(a.eps))) bad("eps must be positive and finite");
  if (!(a.weightDecay >= 0.0 && std::isfinite(a.weightDecay))) bad("weightDecay must be >= 0 and finite");
  if (!(a.clipGradNorm >= 0.0 && std::isfinite(a.clipGradNorm))) bad("clipGradNorm must be >= 0 and finite");
}

TrainLosses computeLossAndGradient(TrainNetwork& network, cpu::ThreadPool& pool, StepScratch& scratch,
                                   const float* params, const TrainBatchView& batch,
                                   const std::array<double, kLossCount>& lossWeights, double* grad,
                                   const std::atomic<int32_t>* cancel) {
  network.forward(params, batch, cancel);
  network.enhanced(scratch.enhanced);
  referencePlanes(batch, scratch.reference);
  const LossBatch lb{static_cast<int>(batch.examples.size()), batch.height, batch.width, scratch.enhanced.data(),
                     scratch.reference.data()};
  const TrainLosses losses = batchLossesAndGradient(lb, lossWeights, scratch.dE, pool);
  network.backward(scratch.dE, grad, cancel);
  return losses;
}

Trainer::Trainer(const float* params, size_t count, int threads, const AdamConfig& adam, CpuIsaSetting isa)
    : adam_(adam), pool_(cpu::resolveThreadCount(threads)), network_(pool_, chooseTrainKernels(isa)) {
  if (count != kParamCount) {
    throw Error(ErrorCode::InvalidArgument, "the trainer needs " + std::to_string(kParamCount) + " parameters, got " +
                                                std::to_string(count));
  }
  requireFinite(params, count, "the parameters");
  validateAdam(adam);
  params_.assign(params, params + count);
  m_.assign(count, 0.0f);
  v_.assign(count, 0.0f);
  grad_.assign(count, 0.0);
}

StepOutcome Trainer::step(const TrainBatchView& batch, double lr, const std::atomic<int32_t>* cancel) {
  if (!(lr >= 0.0 && std::isfinite(lr))) throw Error(ErrorCode::InvalidArgument, "the learning rate must be >= 0 and finite");
  std::lock_guard<std::mutex> stepLock(stepMutex_);  // params_ changes only under it, so it is read freely here
  StepOutcome out;
  out.losses = computeLossAndGradient(network_, pool_, scratch_, params_.data(), batch, {1, 1, 1, 1, 1}, grad_.data(), cancel);
  double sq = 0.0;
  for (double g : grad_) sq += g * g;  // fixed order
  out.gradNorm = std::sqrt(sq);
  const TrainLosses& l = out.losses;
  const bool finite = std::isfinite(out.gradNorm) && std::isfinite(l.l1) && std::isfinite(l.ssimLoss) &&
                      std::isfinite(l.color) && std::isfinite(l.brightness) && std::isfinite(l.structure);
  if (!finite) return out;
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed) != 0) {
    throw Error(ErrorCode::Cancelled, "the training step was cancelled");
  }
  // As torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when the norm exceeds it.
  const double clip = adam_.clipGradNorm > 0.0 && out.gradNorm > adam_.clipGradNorm
                          ? adam_.clipGradNorm / (out.gradNorm + 1e-6)
                          : 1.0;
  {
    std::lock_guard<std::mutex> stateLock(stateMutex_);
    applyAdam(lr, clip);
  }
  out.applied = true;
  return out;
}

// Adam as torch.optim.Adam / AdamW compute it, element by element in double.
void Trainer::applyAdam(double lr, double clipScale) {
  ++step_;
  const double bc1 = 1.0 - std::pow(adam_.beta1, double(step_));
  const double bc2 = 1.0 - std::pow(adam_.beta2, double(step_));
  const double stepSize = lr / bc1, bc2Root = std::sqrt(bc2);
  for (size_t i = 0; i < params_.size(); ++i) {
    double p = params_[i];
    double g = grad_[i] * clipScale;
    if (adam_.decoupledWeightDecay) {
      p *= 1.0 - lr * adam_.weightDecay;
    } else {
      g += adam_.weightDecay * p;
    }
    const double m = adam_.beta1 * m_[i] + (1.0 - adam_.beta1) * g;
    const double v = adam_.beta2 * v_[i] + (1.0 - adam_.beta2) * g * g;
    m_[i] = static_cast<float>(m);
    v_[i] = static_cast<float>(v);
    p -= stepSize * m / (std::sqrt(v) / bc2Root + adam_.eps);
    params_[i] = static_cast<float>(p);
  }
}

std::vector<float> Trainer::params() const {
  std::lock_guard<std::mutex> lock(stateMutex_);
  return params_;
}

OptimizerSnapshot Trainer::optimizerState() const {
  std::lock_guard<std::mutex> lock(stateMutex_);
  return OptimizerSnapshot{step_, m_, v_};
}

void Trainer::setOptimizerState(const OptimizerSnapshot& state) {
  if (state.m.size() != kParamCount || state.v.size() != kParamCount) {
    throw Error(ErrorCode::InvalidArgument, "optimizer state must hold " + std::to_string(kParamCount) + " values per moment");
  }
  requireFinite(state.m.data(), kParamCount, "optimizer state m");
  requireFinite(state.v.data(), kParamCount, "optimizer state v");
  std::lock_guard<std::mutex> lock(stateMutex_);
  step_ = state.step;
  m_ = state.m;
  v_ = state.v;
}

}  // namespace flwnet::train
