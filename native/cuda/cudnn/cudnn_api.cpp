#include "cudnn_api.h"

#include <dlfcn.h>

#include "core/error.h"

namespace flwnet::cudnn {

namespace {

constexpr const char* kLibraryNames[] = {"libcudnn.so.9", "libcudnn.so"};

void* openFirstAvailable() {
  for (const char* name : kLibraryNames) {
    // RTLD_LOCAL keeps cuDNN's symbols out of the global namespace of the host process (Node).
    if (void* handle = dlopen(name, RTLD_NOW | RTLD_LOCAL)) return handle;
  }
  return nullptr;
}

template <typename Fn>
void resolve(void* library, const char* name, Fn* slot) {
  void* symbol = dlsym(library, name);
  if (symbol == nullptr) {
    throw Error(ErrorCode::Device, std::string("cuDNN library lacks ") + name +
                                       "; the cuDNN backend needs cuDNN 9 (libcudnn.so.9)");
  }
  *slot = reinterpret_cast<Fn>(symbol);
}

void resolveAll(void* library, Api* api) {
  resolve(library, "cudnnGetVersion", &api->getVersion);
  resolve(library, "cudnnGetErrorString", &api->getErrorString);
  resolve(library, "cudnnCreate", &api->create);
  resolve(library, "cudnnDestroy", &api->destroy);
  resolve(library, "cudnnSetStream", &api->setStream);
  resolve(library, "cudnnCreateTensorDescriptor", &api->createTensorDescriptor);
  resolve(library, "cudnnDestroyTensorDescriptor", &api->destroyTensorDescriptor);
  resolve(library, "cudnnSetTensor4dDescriptor", &api->setTensor4dDescriptor);
  resolve(library, "cudnnCreateFilterDescriptor", &api->createFilterDescriptor);
  resolve(library, "cudnnDestroyFilterDescriptor", &api->destroyFilterDescriptor);
  resolve(library, "cudnnSetFilter4dDescriptor", &api->setFilter4dDescriptor);
  resolve(library, "cudnnCreateConvolutionDescriptor", &api->createConvolutionDescriptor);
  resolve(library, "cudnnDestroyConvolutionDescriptor", &api->destroyConvolutionDescriptor);
  resolve(library, "cudnnSetConvolution2dDescriptor", &api->setConvolution2dDescriptor);
  resolve(library, "cudnnSetConvolutionMathType", &api->setConvolutionMathType);
  resolve(library, "cudnnCreateActivationDescriptor", &api->createActivationDescriptor);
  resolve(library, "cudnnDestroyActivationDescriptor", &api->destroyActivationDescriptor);
  resolve(library, "cudnnSetActivationDescriptor", &api->setActivationDescriptor);
  resolve(library, "cudnnGetConvolutionForwardAlgorithm_v7", &api->getConvolutionForwardAlgorithm);
  resolve(library, "cudnnGetConvolutionForwardWorkspaceSize", &api->getConvolutionForwardWorkspaceSize);
  resolve(library, "cudnnConvolutionForward", &api->convolutionForward);
  resolve(library, "cudnnConvolutionBiasActivationForward", &api->convolutionBiasActivationForward);
}

}  // namespace

std::shared_ptr<const Library> Library::open() {
  void* handle = openFirstAvailable();
  if (handle == nullptr) {
    throw Error(ErrorCode::Device,
                "cuDNN library not found (libcudnn.so.9); install cuDNN 9 or add it to LD_LIBRARY_PATH");
  }
  std::shared_ptr<Library> library(new Library());
  library->handle_ = handle;  // owned from here on: the destructor closes it even if resolving fails
  resolveAll(handle, &library->api_);
  const size_t version = library->api_.getVersion();
  if (version / 10000 != 9) {
    throw Error(ErrorCode::Device, "the cuDNN backend needs cuDNN 9, found version code " + std::to_string(version));
  }
  return library;
}

Library::~Library() {
  if (handle_ != nullptr) dlclose(handle_);
}

std::string Library::version() const {
  // cuDNN 9 encodes its version as major * 10000 + minor * 100 + patch.
  const size_t code = api_.getVersion();
  return std::to_string(code / 10000) + "." + std::to_string(code / 100 % 100) + "." + std::to_string(code % 100);
}

void throwStatus(const Api& api, cudnnStatus_t status, const char* what, const char* file, int line) {
  const bool outOfMemory = status == CUDNN_STATUS_INTERNAL_ERROR_HOST_ALLOCATION_FAILED ||
                           status == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED;
  const char* text = api.getErrorString != nullptr ? api.getErrorString(status) : "unknown cuDNN status";
  throw Error(outOfMemory ? ErrorCode::OutOfMemory : ErrorCode::Device,
              std::string("cuDNN ") + what + ": " + text + " (status " + std::to_string(static_cast<int>(status)) +
                  ", " + file + ":" + std::to_string(line) + ")");
}

}  // namespace flwnet::cudnn
