// JS class `Engine`: owns one inference backend. Options are copied into plain C++ structs on the
// main thread; inference runs in a PromiseTask whose Execute never touches N-API.
#include <napi.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "async_task.h"
#include "core/backend.h"
#include "core/error.h"
#include "cpu/isa.h"
#include "modules.h"

namespace flwnet::addon {
namespace {

// One request as copied off its JS object.
struct RequestArgs {
  EnhanceRequest request;
  Napi::Object input;
  Napi::Object output;
};

Napi::Float64Array toFloat64Array(Napi::Env env, const double* values, size_t count) {
  Napi::Float64Array array = Napi::Float64Array::New(env, count);
  for (size_t i = 0; i < count; ++i) array[i] = values[i];
  return array;
}

Napi::Object globalResultToJs(Napi::Env env, const GlobalResult& result) {
  Napi::Object object = Napi::Object::New(env);
  object.Set("features", toFloat64Array(env, result.features.f.data(), result.features.f.size()));
  object.Set("curve", toFloat64Array(env, result.curve.a.data(), result.curve.a.size()));
  return object;
}

int intProperty(Napi::Env env, Napi::Object object, const char* key, int fallback) {
  Napi::Value value = object.Get(key);
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) throwInvalid(env, std::string(key) + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

// Reads {data: Uint8Array, width, height, channels} into an ImageU8 view (no copy).
ImageU8 imageFromJs(Napi::Env env, Napi::Object object, Napi::Object* holder) {
  Napi::Value data = object.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    throwInvalid(env, "image data must be a Uint8Array");
  }
  Napi::Uint8Array bytes = data.As<Napi::Uint8Array>();
  ImageU8 image;
  image.data = bytes.Data();
  image.width = intProperty(env, object, "width", 0);
  image.height = intProperty(env, object, "height", 0);
  image.channels = intProperty(env, object, "channels", 3);
  if (image.width <= 0 || image.height <= 0 || (image.channels != 3 && image.channels != 4) ||
      bytes.ByteLength() != image.bytes()) {
    throwInvalid(env, "image data length does not match width x height x channels");
  }
  *holder = bytes;
  return image;
}

RequestArgs requestFromJs(Napi::Env env, Napi::Object object) {
  RequestArgs args;
  args.request.input = imageFromJs(env, object, &args.input);
  args.request.exposure = object.Get("exposure").ToNumber().DoubleValue();
  Napi::Value out = object.Get("out");
  if (!out.IsTypedArray()) throwInvalid(env, "out must be a typed array");
  Napi::TypedArray outArray = out.As<Napi::TypedArray>();
  const size_t elements = args.request.input.bytes();
  if (outArray.TypedArrayType() == napi_uint8_array) {
    args.request.outputKind = OutputKind::U8;
    args.request.output = outArray.As<Napi::Uint8Array>().Data();
  } else if (outArray.TypedArrayType() == napi_float32_array) {
    args.request.outputKind = OutputKind::F32;
    args.request.output = outArray.As<Napi::Float32Array>().Data();
  } else {
    throwInvalid(env, "out must be a Uint8Array or a Float32Array");
  }
  if (outArray.ElementLength() != elements) throwInvalid(env, "out has the wrong length");
  args.output = outArray;
  return args;
}

CudaExactKernel cudaExactKernelProperty(Napi::Env env, Napi::Object options) {
  Napi::Value value = options.Get("cudaExactKernel");
  if (value.IsUndefined()) return CudaExactKernel::Stream;
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "stream") return CudaExactKernel::Stream;
  if (name == "tile") return CudaExactKernel::Tile;
  throwInvalid(env, "cudaExactKernel must be 'stream' or 'tile'");
  return CudaExactKernel::Stream;
}

CudaFastKernel cudaFastKernelProperty(Napi::Env env, Napi::Object options) {
  Napi::Value value = options.Get("cudaFastKernel");
  if (value.IsUndefined()) return CudaFastKernel::Wmma;
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "wmma") return CudaFastKernel::Wmma;
  if (name == "mma") return CudaFastKernel::Mma;
  throwInvalid(env, "cudaFastKernel must be 'wmma' or 'mma'");
  return CudaFastKernel::Wmma;
}

CudaLevelCounts cudaLevelCountsProperty(Napi::Env env, Napi::Object options) {
  Napi::Value value = options.Get("cudaLevelCounts");
  if (value.IsUndefined()) return CudaLevelCounts::Shared;
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "shared") return CudaLevelCounts::Shared;
  if (name == "warp") return CudaLevelCounts::Warp;
  throwInvalid(env, "cudaLevelCounts must be 'shared' or 'warp'");
  return CudaLevelCounts::Shared;
}

BackendOptions backendOptionsFromJs(Napi::Env env, Napi::Object options) {
  BackendOptions result;
  result.threads = intProperty(env, options, "threads", 0);
  result.deviceIndex = intProperty(env, options, "deviceIndex", 0);
  result.precision = options.Get("precision").ToString().Utf8Value() == "fast" ? Precision::Fast : Precision::Exact;
  result.useCudnn = options.Get("cudnn").ToBoolean().Value();
  Napi::Value maxPixels = options.Get("maxPixels");
  result.maxPixels = maxPixels.IsNumber() ? static_cast<size_t>(maxPixels.As<Napi::Number>().DoubleValue()) : 0;
  result.cpuIsa = cpuIsaProperty(env, options, "cpuIsa");
  Napi::Value winograd = options.Get("cpuWinograd");
  result.cpuWinograd = winograd.IsUndefined() ? true : winograd.ToBoolean().Value();
  const Napi::Value cpuKernel = options.Get("cpuKernel");
  if (cpuKernel.IsString()) {
    const std::string name = cpuKernel.As<Napi::String>().Utf8Value();
    if (name == "rows") result.cpuKernel = CpuKernel::RowWinograd;
    else if (name == "blocks") result.cpuKernel = CpuKernel::BlockWinograd;
    else if (name != "auto") throwInvalid(env, "cpuKernel must be 'auto', 'blocks' or 'rows'");
  }
  result.cudaExactKernel = cudaExactKernelProperty(env, options);
  result.cudaFastKernel = cudaFastKernelProperty(env, options);
  result.cudaLevelCounts = cudaLevelCountsProperty(env, options);
  return result;
}

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "Engine",
                       {InstanceMethod("enhance", &EngineWrap::enhance), InstanceMethod("inspect", &EngineWrap::inspect),
                        InstanceMethod("close", &EngineWrap::close),
                        InstanceAccessor("deviceName", &EngineWrap::deviceName, nullptr),
                        InstanceAccessor("description", &EngineWrap::description, nullptr),
                        InstanceAccessor("maxConcurrentRequests", &EngineWrap::maxConcurrentRequests, nullptr),
                        InstanceAccessor("preferredBatch", &EngineWrap::preferredBatch, nullptr)});
  }

  // new Engine(weights: Float32Array, options: { device: 'cpu' | 'cuda', deviceIndex, threads, precision, cudnn,
  //   maxPixels, cpuIsa, cpuWinograd, cudaExactKernel, cudaFastKernel,
  //   cudaLevelCounts })
  explicit EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsObject()) {
      throwInvalid(env, "Engine(weights: Float32Array, options: object)");
    }
    Napi::TypedArray weights = info[0].As<Napi::TypedArray>();
    if (weights.TypedArrayType() != napi_float32_array) throwInvalid(env, "weights must be a Float32Array");
    Napi::Object options = info[1].As<Napi::Object>();
    const std::string device = options.Get("device").ToString().Utf8Value();
    try {
      ModelWeights model(weights.As<Napi::Float32Array>().Data(), weights.ElementLength());
      backend_ = createBackend(device, model, backendOptionsFromJs(env, options));
    } catch (const std::exception& e) {
      throw toJsError(env, e);
    }
  }

 private:
  static std::shared_ptr<Backend> createBackend(const std::string& device, const ModelWeights& model,
                                                const BackendOptions& options) {
    if (device == "cpu") return createCpuBackend(model, options);
#if FLWNET_WITH_CUDA
    if (device == "cuda") return createCudaBackend(model, options);
#endif
    throw Error(ErrorCode::Device, "device '" + device + "' is not available in this build");
  }

  std::shared_ptr<Backend> backendOrThrow(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!backend_) {
      Napi::Error e = Napi::Error::New(env, "the engine is closed");
      e.Set("code", Napi::String::New(env, "ERR_FLWNET_CLOSED"));
      throw e;
    }
    return backend_;
  }

  // enhance(requests: Array<{data, width, height, channels, exposure, out}>, cancel?: Int32Array)
  //   -> Promise<Array<{features: Float64Array, curve: Float64Array}>>
  Napi::Value enhance(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Backend> backend = backendOrThrow(env);
    if (info.Length() < 1 || !info[0].IsArray()) throwInvalid(env, "enhance(requests: object[], cancel?)");
    Napi::Array list = info[0].As<Napi::Array>();
    if (list.Length() == 0) throwInvalid(env, "enhance needs at least one request");
    std::vector<Napi::Object> keepAlive;
    auto requests = std::make_shared<std::vector<EnhanceRequest>>();
    const std::atomic<int32_t>* cancel = cancelFlagFromJs(env, info.Length() > 1 ? info[1] : env.Undefined(), &keepAlive);
    for (uint32_t i = 0; i < list.Length(); ++i) {
      Napi::Value item = list.Get(i);
      if (!item.IsObject()) throwInvalid(env, "each request must be an object");
      RequestArgs args = requestFromJs(env, item.As<Napi::Object>());
      args.request.cancel = cancel;
      requests->push_back(args.request);
      keepAlive.push_back(args.input);
      keepAlive.push_back(args.output);
    }
    using Results = std::vector<GlobalResult>;
    return runAsync<Results>(
        env,
        [backend, requests]() {
          Results results(requests->size());
          backend->enhance(requests->data(), requests->size(), results.data());
          return results;
        },
        [](Napi::Env env, Results& results) -> Napi::Value {
          Napi::Array array = Napi::Array::New(env, results.size());
          for (uint32_t i = 0; i < results.size(); ++i) array.Set(i, globalResultToJs(env, results[i]));
          return array;
        },
        std::move(keepAlive));
  }

  // inspect(image: {data, width, height, channels}, exposure) -> Promise<{features, curve}>
  Napi::Value inspect(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::shared_ptr<Backend> backend = backendOrThrow(env);
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsNumber()) {
      throwInvalid(env, "inspect(image: object, exposure: number)");
    }
    Napi::Object holder;
    ImageU8 image = imageFromJs(env, info[0].As<Napi::Object>(), &holder);
    const double exposure = info[1].As<Napi::Number>().DoubleValue();
    return runAsync<GlobalResult>(
        env, [backend, image, exposure]() { return backend->inspect(image, exposure); },
        [](Napi::Env env, GlobalResult& result) -> Napi::Value { return globalResultToJs(env, result); }, {holder});
  }

  // Releases the backend; calls in flight keep it alive until they settle.
  Napi::Value close(const Napi::CallbackInfo& info) {
    std::lock_guard<std::mutex> lock(mutex_);
    backend_.reset();
    return info.Env().Undefined();
  }

  Napi::Value deviceName(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), backendOrThrow(info.Env())->deviceName());
  }
  Napi::Value description(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), backendOrThrow(info.Env())->description());
  }
  Napi::Value maxConcurrentRequests(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), backendOrThrow(info.Env())->maxConcurrentRequests());
  }
  Napi::Value preferredBatch(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), backendOrThrow(info.Env())->preferredBatch());
  }

  std::mutex mutex_;
  std::shared_ptr<Backend> backend_;
};

}  // namespace

CpuIsaSetting cpuIsaProperty(Napi::Env env, Napi::Object options, const char* key) {
  Napi::Value value = options.Get(key);
  if (value.IsUndefined()) return CpuIsaSetting::Auto;
  const std::string name = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (name == "auto") return CpuIsaSetting::Auto;
  if (name == "scalar") return CpuIsaSetting::Scalar;
  if (name == "avx2") return CpuIsaSetting::Avx2;
  if (name == "avx512") return CpuIsaSetting::Avx512;
  throwInvalid(env, std::string(key) + " must be 'auto', 'scalar', 'avx2' or 'avx512'");
  return CpuIsaSetting::Auto;
}

// cpuIsas: the CPU instruction sets this processor runs, scalar first (e.g. ['scalar', 'avx2']).
Napi::Array supportedCpuIsas(Napi::Env env) {
  const std::vector<cpu::CpuIsa> isas = cpu::supportedIsas();
  Napi::Array names = Napi::Array::New(env, isas.size());
  for (size_t i = 0; i < isas.size(); ++i) names.Set(static_cast<uint32_t>(i), cpu::isaName(isas[i]));
  return names;
}

void registerEngine(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", EngineWrap::define(env));
  exports.Set("cpuIsas", supportedCpuIsas(env));
}

}  // namespace flwnet::addon
