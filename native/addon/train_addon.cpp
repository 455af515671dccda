// JS class `Trainer` and function `trainLossAndGradients`: the native training core. Batches
// are copied into plain views on the main thread (the buffers are kept alive until the task
// settles); forward, losses, backward and Adam run in a PromiseTask whose Execute never touches N-API.
#include <napi.h>

#include <atomic>
#include <cmath>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "async_task.h"
#include "core/error.h"
#include "core/model.h"
#include "modules.h"
#include "train/trainer.h"

namespace flwnet::addon {
namespace {

using train::TrainBatchView;

struct BatchArgs {
  TrainBatchView view;
  std::vector<Napi::Object> keepAlive;
};

Napi::Uint8Array bytesProperty(Napi::Env env, Napi::Object object, const char* key, size_t expected) {
  Napi::Value value = object.Get(key);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwInvalid(env, std::string("training example ") + key + " must be a Uint8Array");
  }
  Napi::Uint8Array bytes = value.As<Napi::Uint8Array>();
  if (bytes.ByteLength() != expected) throwInvalid(env, std::string("training example ") + key + " has the wrong length");
  return bytes;
}

// batch: Array<{ low: Uint8Array, high: Uint8Array, width, height, exposure (NaN: from high) }>
BatchArgs batchFromJs(Napi::Env env, Napi::Value value) {
  if (!value.IsArray()) throwInvalid(env, "a training batch must be an array");
  Napi::Array list = value.As<Napi::Array>();
  if (list.Length() == 0) throwInvalid(env, "a training batch needs at least one example");
  BatchArgs args;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    Napi::Value item = list.Get(i);
    if (!item.IsObject()) throwInvalid(env, "each training example must be an object");
    Napi::Object object = item.As<Napi::Object>();
    const int width = object.Get("width").ToNumber().Int32Value();
    const int height = object.Get("height").ToNumber().Int32Value();
    if (width < 1 || height < 1) throwInvalid(env, "training images must be at least 1x1");
    if (i == 0) {
      args.view.width = width;
      args.view.height = height;
    } else if (width != args.view.width || height != args.view.height) {
      throwInvalid(env, "all examples of a training batch must have the same size");
    }
    const size_t bytes = static_cast<size_t>(width) * height * 3;
    Napi::Uint8Array low = bytesProperty(env, object, "low", bytes);
    Napi::Uint8Array high = bytesProperty(env, object, "high", bytes);
    train::TrainExampleView example;
    example.low = low.Data();
    example.high = high.Data();
    example.exposure = object.Get("exposure").ToNumber().DoubleValue();
    args.view.examples.push_back(example);
    args.keepAlive.push_back(low);
    args.keepAlive.push_back(high);
  }
  return args;
}

Napi::Float32Array paramsFromJs(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
      value.As<Napi::Float32Array>().ElementLength() != kParamCount) {
    throwInvalid(env, std::string(what) + " must be a Float32Array of " + std::to_string(kParamCount) + " values");
  }
  return value.As<Napi::Float32Array>();
}

Napi::Float32Array toFloat32Array(Napi::Env env, const std::vector<float>& values) {
  Napi::Float32Array array = Napi::Float32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

Napi::Float64Array lossesToJs(Napi::Env env, const train::TrainLosses& l) {
  Napi::Float64Array array = Napi::Float64Array::New(env, 6);
  const double values[6] = {l.l1, l.ssimLoss, l.color, l.brightness, l.structure, l.total};
  for (int i = 0; i < 6; ++i) array[i] = values[i];
  return array;
}

double numberOption(Napi::Env env, Napi::Object options, const char* key) {
  Napi::Value value = options.Get(key);
  if (!value.IsNumber()) throwInvalid(env, std::string("trainer option ") + key + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

class TrainerWrap : public Napi::ObjectWrap<TrainerWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Trainer",
                       {InstanceMethod("step", &TrainerWrap::step), InstanceMethod("params", &TrainerWrap::params),
                        InstanceMethod("optimizerState", &TrainerWrap::optimizerState),
                        InstanceMethod("setOptimizerState", &TrainerWrap::setOptimizerState),
                        InstanceMethod("close", &TrainerWrap::close)});
  }

  // new Trainer(params: Float32Array, { threads, beta1, beta2, eps, weightDecay, decoupledWeightDecay, clipGradNorm })
  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TrainerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[1].IsObject()) throwInvalid(env, "Trainer(params: Float32Array, options: object)");
    Napi::Float32Array params = paramsFromJs(env, info[0], "params");
    Napi::Object options = info[1].As<Napi::Object>();
    train::AdamConfig adam;
    adam.beta1 = numberOption(env, options, "beta1");
    adam.beta2 = numberOption(env, options, "beta2");
    adam.eps = numberOption(env, options, "eps");
    adam.weightDecay = numberOption(env, options, "weightDecay");
    adam.decoupledWeightDecay = options.Get("decoupledWeightDecay").ToBoolean().Value();
    adam.clipGradNorm = numberOption(env, options, "clipGradNorm");
    const int threads = static_cast<int>(numberOption(env, options, "threads"));
    const CpuIsaSetting isa = cpuIsaProperty(env, options, "cpuIsa");
    try {
      trainer_ = std::make_shared<train::Trainer>(params.Data(), params.ElementLength(), threads, adam, isa);
    } catch (const std::exception& e) {
      throw toJsError(env, e);
    }
  }

 private:
  std::shared_ptr<train::Trainer> trainerOrThrow(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!trainer_) {
      Napi::Error e = Napi::Error::New(env, "the trainer is closed");
      e.Set("code", Napi::String::New(env, "ERR_FLWNET_CLOSED"));
      throw e;
    }
    return trainer_;
  }

  // step(batch, lr, cancel?) -> Promise<{ losses: Float64Array(6), gradNorm, applied }>
  Napi::Value step(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<train::Trainer> trainer = trainerOrThrow(env);
    if (info.Length() < 2 || !info[1].IsNumber()) throwInvalid(env, "step(batch, lr: number, cancel?)");
    auto batch = std::make_shared<BatchArgs>(batchFromJs(env, info[0]));
    const double lr = info[1].As<Napi::Number>().DoubleValue();
    const std::atomic<int32_t>* cancel = cancelFlagFromJs(env, info.Length() > 2 ? info[2] : env.Undefined(), &batch->keepAlive);
    std::vector<Napi::Object> keepAlive = batch->keepAlive;
    return runAsync<train::StepOutcome>(
        env, [trainer, batch, lr, cancel]() { return trainer->step(batch->view, lr, cancel); },
        [](Napi::Env env, train::StepOutcome& out) -> Napi::Value {
          Napi::Object object = Napi::Object::New(env);
          object.Set("losses", lossesToJs(env, out.losses));
          object.Set("gradNorm", Napi::Number::New(env, out.gradNorm));
          object.Set("applied", Napi::Boolean::New(env, out.applied));
          return object;
        },
        std::move(keepAlive));
  }

  Napi::Value params(const Napi::CallbackInfo& info) {
    return toFloat32Array(info.Env(), trainerOrThrow(info.Env())->params());
  }

  Napi::Value optimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const train::OptimizerSnapshot state = trainerOrThrow(env)->optimizerState();
    Napi::Object object = Napi::Object::New(env);
    object.Set("step", Napi::Number::New(env, static_cast<double>(state.step)));
    object.Set("m", toFloat32Array(env, state.m));
    object.Set("v", toFloat32Array(env, state.v));
    return object;
  }

  // setOptimizerState(step: number, m: Float32Array, v: Float32Array)
  Napi::Value setOptimizerState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<train::Trainer> trainer = trainerOrThrow(env);
    if (info.Length() < 3 || !info[0].IsNumber()) throwInvalid(env, "setOptimizerState(step, m, v)");
    const double step = info[0].As<Napi::Number>().DoubleValue();
    if (!(step >= 0.0 && step < 9007199254740992.0) || std::floor(step) != step) {
      throwInvalid(env, "optimizer step must be a non-negative integer");
    }
    Napi::Float32Array m = paramsFromJs(env, info[1], "m");
    Napi::Float32Array v = paramsFromJs(env, info[2], "v");
    train::OptimizerSnapshot state;
    state.step = static_cast<uint64_t>(step);
    state.m.assign(m.Data(), m.Data() + m.ElementLength());
    state.v.assign(v.Data(), v.Data() + v.ElementLength());
    try {
      trainer->setOptimizerState(state);
    } catch (const std::exception& e) {
      throw toJsError(env, e);
    }
    return env.Undefined();
  }

  // Releases the trainer; a step in flight keeps it alive until it settles.
  Napi::Value close(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    trainer_.reset();
    return info.Env().Undefined();
  }

  std::mutex mutex_;
  std::shared_ptr<train::Trainer> trainer_;
};

struct GradientResult {
  train::TrainLosses losses;
  std::vector<double> gradient;
};

// trainLossAndGradients(params, batch, lossWeights: Float64Array(5), threads, cancel?, cpuIsa?)
//   -> Promise<{ losses: Float64Array(6), gradients: Float64Array(kParamCount) }>
Napi::Value trainLossAndGradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 4) throwInvalid(env, "trainLossAndGradients(params, batch, lossWeights, threads, cancel?)");
  Napi::Float32Array paramsArray = paramsFromJs(env, info[0], "params");
  auto params = std::make_shared<std::vector<float>>(paramsArray.Data(), paramsArray.Data() + kParamCount);
  auto batch = std::make_shared<BatchArgs>(batchFromJs(env, info[1]));
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array ||
      info[2].As<Napi::Float64Array>().ElementLength() != train::kLossCount) {
    throwInvalid(env, "lossWeights must be a Float64Array of 5 values");
  }
  std::array<double, train::kLossCount> weights{};
  Napi::Float64Array w = info[2].As<Napi::Float64Array>();
  for (int i = 0; i < train::kLossCount; ++i) weights[i] = w[i];
  const int threads = info[3].ToNumber().Int32Value();
  const std::atomic<int32_t>* cancel = cancelFlagFromJs(env, info.Length() > 4 ? info[4] : env.Undefined(), &batch->keepAlive);
  Napi::Object isaHolder = Napi::Object::New(env);
  isaHolder.Set("cpuIsa", info.Length() > 5 ? info[5] : env.Undefined());
  const CpuIsaSetting isa = cpuIsaProperty(env, isaHolder, "cpuIsa");
  std::vector<Napi::Object> keepAlive = batch->keepAlive;
  return runAsync<GradientResult>(
      env,
      [params, batch, weights, threads, cancel, isa]() {
        for (float p : *params) {
          if (!std::isfinite(p)) throw Error(ErrorCode::InvalidArgument, "the parameters hold a non-finite value");
        }
        cpu::ThreadPool pool(cpu::resolveThreadCount(threads));
        train::TrainNetwork network(pool, train::chooseTrainKernels(isa));
        train::StepScratch scratch;
        GradientResult result;
        result.gradient.assign(kParamCount, 0.0);
        result.losses = train::computeLossAndGradient(network, pool, scratch, params->data(), batch->view, weights,
                                                      result.gradient.data(), cancel);
        return result;
      },
      [](Napi::Env env, GradientResult& result) -> Napi::Value {
        Napi::Object object = Napi::Object::New(env);
        object.Set("losses", lossesToJs(env, result.losses));
        Napi::Float64Array gradients = Napi::Float64Array::New(env, result.gradient.size());
        std::copy(result.gradient.begin(), result.gradient.end(), gradients.Data());
        object.Set("gradients", gradients);
        return object;
      },
      std::move(keepAlive));
}

}  // namespace

void registerTrainer(Napi::Env env, Napi::Object exports) {
  exports.Set("Trainer", TrainerWrap::define(env));
  exports.Set("trainLossAndGradients", Napi::Function::New(env, trainLossAndGradients, "trainLossAndGradients"));
}

}  // namespace flwnet::addon
