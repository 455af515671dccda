// The N-API boundary: module registration and the conversion of native exceptions to JS errors.
#include <napi.h>

#include <new>

#include "core/error.h"
#include "modules.h"

namespace flwnet::addon {

Napi::Error toJsError(Napi::Env env, const std::exception& e) {
  const char* code = "ERR_FLWNET_INTERNAL";
  if (auto* fe = dynamic_cast<const flwnet::Error*>(&e)) {
    code = errorCodeName(fe->code());
  } else if (dynamic_cast<const std::bad_alloc*>(&e)) {
    code = errorCodeName(ErrorCode::OutOfMemory);
  }
  Napi::Error error = Napi::Error::New(env, dynamic_cast<const std::bad_alloc*>(&e) ? "out of host memory" : e.what());
  error.Set("code", Napi::String::New(env, code));
  return error;
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  registerEngine(env, exports);
  registerDevices(env, exports);
  registerLosses(env, exports);
  registerGraph(env, exports);
  registerTrainer(env, exports);
#if FLWNET_WITH_CUDA
  exports.Set("cudaCompiled", Napi::Boolean::New(env, true));
#else
  exports.Set("cudaCompiled", Napi::Boolean::New(env, false));
#endif
  return exports;
}

}  // namespace flwnet::addon

// NODE_API_MODULE needs a plain identifier for the init function.
static Napi::Object initFlwnet(Napi::Env env, Napi::Object exports) { return flwnet::addon::init(env, exports); }

NODE_API_MODULE(flwnet, initFlwnet)
