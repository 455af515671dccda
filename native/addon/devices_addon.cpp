// cudaInfo(): what this build and this machine offer for the CUDA backends. Never throws for a
// machine without a driver or GPU: `devices` is empty and `error` says why.
#include <napi.h>

#include "cuda/runtime/device_info.h"
#include "modules.h"

namespace flwnet::addon {
namespace {

cuda::CudaInfo currentInfo() {
#if FLWNET_WITH_CUDA
  return cuda::queryCudaInfo();
#else
  cuda::CudaInfo info;
  info.error = "this build has no CUDA backend";
  return info;
#endif
}

Napi::Value cudaInfo(const Napi::CallbackInfo& args) {
  Napi::Env env = args.Env();
  const cuda::CudaInfo info = currentInfo();
  Napi::Object out = Napi::Object::New(env);
  out.Set("compiled", Napi::Boolean::New(env, info.compiled));
  out.Set("cudnnCompiled", Napi::Boolean::New(env, info.cudnnCompiled));
  out.Set("runtimeVersion", Napi::Number::New(env, info.runtimeVersion));
  out.Set("driverVersion", Napi::Number::New(env, info.driverVersion));
  Napi::Array devices = Napi::Array::New(env, info.devices.size());
  for (size_t i = 0; i < info.devices.size(); ++i) {
    const cuda::DeviceSummary& d = info.devices[i];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("index", Napi::Number::New(env, d.index));
    entry.Set("name", Napi::String::New(env, d.name));
    entry.Set("computeCapability", Napi::String::New(env, d.computeCapability));
    entry.Set("totalMemory", Napi::Number::New(env, static_cast<double>(d.totalMemory)));
    entry.Set("multiprocessors", Napi::Number::New(env, d.multiprocessors));
    devices.Set(static_cast<uint32_t>(i), entry);
  }
  out.Set("devices", devices);
  if (!info.error.empty()) out.Set("error", Napi::String::New(env, info.error));
  return out;
}

}  // namespace

void registerDevices(Napi::Env env, Napi::Object exports) {
  exports.Set("cudaInfo", Napi::Function::New(env, cudaInfo, "cudaInfo"));
}

}  // namespace flwnet::addon
