// A promise-returning AsyncWorker: Execute() runs `work` on a libuv thread without touching N-API;
// the result is converted on the main thread. Native errors keep their `code`.
#pragma once
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "modules.h"

namespace flwnet::addon {

template <typename Result>
class PromiseTask : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;

  // `keepAlive` holds references to JS objects (input and output buffers) until the task settles.
  PromiseTask(Napi::Env env, Work work, Convert convert, std::vector<Napi::Object> keepAlive)
      : Napi::AsyncWorker(env, "flwnet"),
        deferred_(Napi::Promise::Deferred::New(env)),
        work_(std::move(work)),
        convert_(std::move(convert)) {
    for (auto& object : keepAlive) refs_.push_back(Napi::Persistent(object));
  }

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      result_ = work_();
    } catch (const flwnet::Error& e) {
      code_ = errorCodeName(e.code());
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      code_ = errorCodeName(ErrorCode::OutOfMemory);
      SetError("out of host memory");
    } catch (const std::exception& e) {
      code_ = errorCodeName(ErrorCode::Internal);
      SetError(e.what());
    }
  }

  void OnOK() override {
    Napi::Env env = Env();
    try {
      deferred_.Resolve(convert_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& error) override {
    Napi::Error e = Napi::Error::New(Env(), error.Message());
    e.Set("code", Napi::String::New(Env(), code_));
    deferred_.Reject(e.Value());
  }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  Result result_{};
  std::string code_ = "ERR_FLWNET_INTERNAL";
  std::vector<Napi::ObjectReference> refs_;
};

// Queues `work` and returns its promise.
template <typename Result>
Napi::Promise runAsync(Napi::Env env, typename PromiseTask<Result>::Work work,
                       typename PromiseTask<Result>::Convert convert, std::vector<Napi::Object> keepAlive) {
  auto* task = new PromiseTask<Result>(env, std::move(work), std::move(convert), std::move(keepAlive));
  Napi::Promise promise = task->promise();
  task->Queue();
  return promise;
}

// Throws a JS TypeError with code ERR_FLWNET_INVALID_INPUT (argument checks are done in TS; these are
// the addon's own guards against misuse of the raw module).
[[noreturn]] inline void throwInvalid(Napi::Env env, const std::string& message) {
  Napi::TypeError e = Napi::TypeError::New(env, message);
  e.Set("code", Napi::String::New(env, "ERR_FLWNET_INVALID_INPUT"));
  throw e;
}

// A task's cancel flag: an Int32Array of length >= 1 the JS side sets with Atomics.store, or
// undefined/null for none (nullptr). The array is kept alive with the task's other arguments.
inline const std::atomic<int32_t>* cancelFlagFromJs(Napi::Env env, Napi::Value value,
                                                    std::vector<Napi::Object>* keepAlive) {
  if (value.IsUndefined() || value.IsNull()) return nullptr;
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array ||
      value.As<Napi::Int32Array>().ElementLength() < 1) {
    throwInvalid(env, "cancel must be an Int32Array of length >= 1");
  }
  Napi::Int32Array flag = value.As<Napi::Int32Array>();
  keepAlive->push_back(flag);
  static_assert(sizeof(std::atomic<int32_t>) == sizeof(int32_t), "atomic int32 must be lock-free and plain");
  return reinterpret_cast<const std::atomic<int32_t>*>(flag.Data());
}

}  // namespace flwnet::addon
