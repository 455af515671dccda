// Errors thrown by the native engine. Native code never aborts or prints: every failure becomes a
// flwnet::Error that the addon turns into a JS error carrying `code`.
#pragma once
#include <stdexcept>
#include <string>

namespace flwnet {

enum class ErrorCode {
  InvalidArgument,  // caller passed something the engine cannot work on
  OutOfMemory,      // host or device allocation failed
  Cancelled,        // the request's cancel flag was raised
  Device,           // a GPU runtime or library call failed
  Internal,         // a broken invariant inside the engine
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

// The `code` string the JS layer sees for each ErrorCode.
inline const char* errorCodeName(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument: return "ERR_FLWNET_INVALID_INPUT";
    case ErrorCode::OutOfMemory: return "ERR_FLWNET_OUT_OF_MEMORY";
    case ErrorCode::Cancelled: return "ERR_FLWNET_ABORTED";
    case ErrorCode::Device: return "ERR_FLWNET_DEVICE";
    case ErrorCode::Internal: return "ERR_FLWNET_INTERNAL";
  }
  return "ERR_FLWNET_INTERNAL";
}

}  // namespace flwnet

// Throws a flwnet::Error whose message ends with the source location, for failures a user reports.
#define FLWNET_THROW(code, msg)                                                              \
  throw ::flwnet::Error((code), std::string(msg) + " (" + __FILE__ + ":" + std::to_string(__LINE__) + ")")

#define FLWNET_CHECK(cond, msg)                                         \
  do {                                                                  \
    if (!(cond)) FLWNET_THROW(::flwnet::ErrorCode::Internal, msg);      \
  } while (0)
