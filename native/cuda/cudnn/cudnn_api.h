// The cuDNN entry points the cuDNN backend uses, resolved at run time from libcudnn.so.9. The addon
// is not linked against cuDNN so that it loads (and every other backend works) on machines
// without it; only creating the cuDNN backend needs the library.
#pragma once
#include <cudnn.h>

#include <memory>
#include <string>

namespace flwnet::cudnn {

// Function-pointer table. The types come from cudnn.h itself, so a signature that drifts between
// cuDNN releases fails to compile instead of corrupting the stack at run time.
struct Api {
  decltype(&::cudnnGetVersion) getVersion = nullptr;
  decltype(&::cudnnGetErrorString) getErrorString = nullptr;
  decltype(&::cudnnCreate) create = nullptr;
  decltype(&::cudnnDestroy) destroy = nullptr;
  decltype(&::cudnnSetStream) setStream = nullptr;
  decltype(&::cudnnCreateTensorDescriptor) createTensorDescriptor = nullptr;
  decltype(&::cudnnDestroyTensorDescriptor) destroyTensorDescriptor = nullptr;
  decltype(&::cudnnSetTensor4dDescriptor) setTensor4dDescriptor = nullptr;
  decltype(&::cudnnCreateFilterDescriptor) createFilterDescriptor = nullptr;
  decltype(&::cudnnDestroyFilterDescriptor) destroyFilterDescriptor = nullptr;
  decltype(&::cudnnSetFilter4dDescriptor) setFilter4dDescriptor = nullptr;
  decltype(&::cudnnCreateConvolutionDescriptor) createConvolutionDescriptor = nullptr;
  decltype(&::cudnnDestroyConvolutionDescriptor) destroyConvolutionDescriptor = nullptr;
  decltype(&::cudnnSetConvolution2dDescriptor) setConvolution2dDescriptor = nullptr;
  decltype(&::cudnnSetConvolutionMathType) setConvolutionMathType = nullptr;
  decltype(&::cudnnCreateActivationDescriptor) createActivationDescriptor = nullptr;
  decltype(&::cudnnDestroyActivationDescriptor) destroyActivationDescriptor = nullptr;
  decltype(&::cudnnSetActivationDescriptor) setActivationDescriptor = nullptr;
  decltype(&::cudnnGetConvolutionForwardAlgorithm_v7) getConvolutionForwardAlgorithm = nullptr;
  decltype(&::cudnnGetConvolutionForwardWorkspaceSize) getConvolutionForwardWorkspaceSize = nullptr;
  decltype(&::cudnnConvolutionForward) convolutionForward = nullptr;
  decltype(&::cudnnConvolutionBiasActivationForward) convolutionBiasActivationForward = nullptr;
};

// The library handle and its resolved table; closes the library when the last user goes away.
class Library {
 public:
  // Opens libcudnn.so.9 (then libcudnn.so) and resolves every entry of Api. Throws
  // ErrorCode::Device when the library or one of the symbols is missing.
  static std::shared_ptr<const Library> open();
  ~Library();
  Library(const Library&) = delete;
  Library& operator=(const Library&) = delete;

  const Api& api() const { return api_; }
  // "9.6.0" from cudnnGetVersion().
  std::string version() const;

 private:
  Library() = default;
  void* handle_ = nullptr;
  Api api_;
};

// Throws flwnet::Error for a failed cuDNN call: OutOfMemory for allocation failures, Device otherwise.
[[noreturn]] void throwStatus(const Api& api, cudnnStatus_t status, const char* what, const char* file, int line);

// True for the NOT_SUPPORTED family: the configuration is valid but no kernel implements it.
inline bool isNotSupported(cudnnStatus_t status) {
  return CUDNN_STATUS_CATEGORY(static_cast<int>(status)) == static_cast<int>(CUDNN_STATUS_NOT_SUPPORTED);
}

}  // namespace flwnet::cudnn

#define FLWNET_CUDNN_CHECK(api, call)                                                \
  do {                                                                               \
    const cudnnStatus_t flwnetCudnnStatus_ = (api).call;                             \
    if (flwnetCudnnStatus_ != CUDNN_STATUS_SUCCESS) {                                \
      ::flwnet::cudnn::throwStatus((api), flwnetCudnnStatus_, #call, __FILE__, __LINE__); \
    }                                                                                \
  } while (0)
