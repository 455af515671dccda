// JS bindings of the losses and metrics: evaluateLosses(enhanced, reference, options) and
// ciede2000Lab(pairs). Both return promises; the work runs on a libuv thread and reads the
// callers' typed arrays in place (they are kept referenced until the promise settles).
#include <napi.h>

#include <cmath>
#include <string>
#include <vector>

#include "addon/async_task.h"
#include "addon/modules.h"
#include "core/error.h"
#include "core/losses.h"

namespace flwnet::addon {
namespace {

using losses::LossParts;
using losses::LossReport;
using losses::PixelView;
using losses::SampleType;

int intProperty(Napi::Env env, Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throwInvalid(env, std::string("image ") + name + " must be a number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || number != std::floor(number) || number < 0 || number > (1 << 30))
    throwInvalid(env, std::string("image ") + name + " must be a non-negative integer");
  return static_cast<int>(number);
}

// Reads { data: Uint8Array | Float32Array, width, height, channels } on the main thread; the typed
// array goes to `keepAlive` so its memory outlives the work even if the caller drops the object.
PixelView imageArgument(Napi::Env env, Napi::Value arg, const char* which, std::vector<Napi::Object>& keepAlive) {
  if (!arg.IsObject()) throwInvalid(env, std::string(which) + " image must be an object");
  Napi::Object object = arg.As<Napi::Object>();
  PixelView view;
  view.width = intProperty(env, object, "width");
  view.height = intProperty(env, object, "height");
  view.channels = intProperty(env, object, "channels");
  Napi::Value data = object.Get("data");
  if (!data.IsTypedArray()) throwInvalid(env, std::string(which) + " image data must be a Uint8Array or Float32Array");
  Napi::TypedArray typed = data.As<Napi::TypedArray>();
  size_t length = typed.ElementLength();
  if (typed.TypedArrayType() == napi_uint8_array || typed.TypedArrayType() == napi_uint8_clamped_array) {
    view.type = SampleType::U8;
    view.data = static_cast<const uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset();
  } else if (typed.TypedArrayType() == napi_float32_array) {
    view.type = SampleType::F32;
    view.data = static_cast<const uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset();
  } else {
    throwInvalid(env, std::string(which) + " image data must be a Uint8Array or Float32Array");
  }
  if (length != view.samples())
    throwInvalid(env, std::string(which) + " image data holds " + std::to_string(length) + " samples, " +
                          std::to_string(view.samples()) + " expected");
  keepAlive.push_back(typed);
  return view;
}

Napi::Object reportObject(Napi::Env env, const LossReport& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("l1", r.l1);
  out.Set("ssimLoss", r.ssimLoss);
  out.Set("color", r.colour);
  out.Set("brightness", r.brightness);
  out.Set("structure", r.structure);
  out.Set("total", r.total);
  out.Set("psnr", r.psnr);
  out.Set("ssim", r.ssim);
  out.Set("ciede2000", r.ciede2000);
  return out;
}

struct EvaluateSettings {
  bool cuda = false;
  int deviceIndex = 0;
  int threads = 0;
  CpuIsaSetting cpuIsa = CpuIsaSetting::Auto;
  LossParts parts;
};

EvaluateSettings settingsArgument(Napi::Env env, Napi::Value arg) {
  EvaluateSettings settings;
  if (arg.IsUndefined()) return settings;
  if (!arg.IsObject()) throwInvalid(env, "evaluateLosses options must be an object");
  Napi::Object options = arg.As<Napi::Object>();
  Napi::Value device = options.Get("device");
  if (!device.IsUndefined()) {
    const std::string name = device.ToString().Utf8Value();
    if (name != "cpu" && name != "cuda") throwInvalid(env, "evaluateLosses device must be 'cpu' or 'cuda'");
    settings.cuda = name == "cuda";
  }
  if (options.Has("deviceIndex")) settings.deviceIndex = intProperty(env, options, "deviceIndex");
  if (options.Has("threads")) settings.threads = intProperty(env, options, "threads");
  settings.cpuIsa = cpuIsaProperty(env, options, "cpuIsa");
  if (options.Has("ssim")) settings.parts.ssim = options.Get("ssim").ToBoolean().Value();
  if (options.Has("ciede2000")) settings.parts.ciede2000 = options.Get("ciede2000").ToBoolean().Value();
  return settings;
}

LossReport runEvaluation(const PixelView& enhanced, const PixelView& reference, const EvaluateSettings& settings) {
  if (!settings.cuda) return losses::evaluateCpu(enhanced, reference, settings.threads, settings.parts, settings.cpuIsa);
#if FLWNET_WITH_CUDA
  return losses::evaluateCuda(enhanced, reference, settings.deviceIndex);
#else
  FLWNET_THROW(ErrorCode::Device, "this flwnet build has no CUDA support");
#endif
}

// evaluateLosses(enhanced, reference, { device?, deviceIndex?, threads?, cpuIsa?, ssim?, ciede2000? })
Napi::Value evaluateLosses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Object> keepAlive;
  const PixelView enhanced = imageArgument(env, info[0], "enhanced", keepAlive);
  const PixelView reference = imageArgument(env, info[1], "reference", keepAlive);
  const EvaluateSettings settings = settingsArgument(env, info[2]);
  auto work = [enhanced, reference, settings]() { return runEvaluation(enhanced, reference, settings); };
  auto convert = [](Napi::Env e, LossReport& report) -> Napi::Value { return reportObject(e, report); };
  return runAsync<LossReport>(env, work, convert, std::move(keepAlive));
}

// ciede2000Lab(pairs: Float64Array of [L1, a1, b1, L2, a2, b2] * n) -> Promise<Float64Array(n)>
Napi::Value ciede2000Lab(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throwInvalid(env, "ciede2000Lab expects a Float64Array of [L1, a1, b1, L2, a2, b2] groups");
  Napi::Float64Array pairs = info[0].As<Napi::Float64Array>();
  if (pairs.ElementLength() % 6 != 0) throwInvalid(env, "ciede2000Lab expects a multiple of 6 numbers");
  const double* values = pairs.Data();
  const size_t count = pairs.ElementLength() / 6;
  auto work = [values, count]() {
    std::vector<double> out(count);
    for (size_t i = 0; i < count; ++i) {
      const double* v = values + 6 * i;
      for (int k = 0; k < 6; ++k)
        if (!std::isfinite(v[k])) FLWNET_THROW(ErrorCode::InvalidArgument, "Lab values must be finite numbers");
      out[i] = losses::ciede2000(losses::Lab{v[0], v[1], v[2]}, losses::Lab{v[3], v[4], v[5]});
    }
    return out;
  };
  auto convert = [](Napi::Env e, std::vector<double>& out) -> Napi::Value {
    Napi::Float64Array result = Napi::Float64Array::New(e, out.size());
    for (size_t i = 0; i < out.size(); ++i) result[i] = out[i];
    return result;
  };
  return runAsync<std::vector<double>>(env, work, convert, {pairs});
}

}  // namespace

void registerLosses(Napi::Env env, Napi::Object exports) {
  exports.Set("evaluateLosses", Napi::Function::New(env, evaluateLosses, "evaluateLosses"));
  exports.Set("ciede2000Lab", Napi::Function::New(env, ciede2000Lab, "ciede2000Lab"));
}

}  // namespace flwnet::addon
