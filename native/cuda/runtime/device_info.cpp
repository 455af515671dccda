#include "cuda/runtime/device_info.h"

#include <cuda_runtime.h>

namespace flwnet::cuda {

CudaInfo queryCudaInfo() {
  CudaInfo info;
  info.compiled = true;
#if FLWNET_WITH_CUDNN
  info.cudnnCompiled = true;
#endif
  // The runtime is linked statically; libcuda is opened on first use, so every call here may fail
  // on a machine without a driver. Failures are reported as text and cleared, never thrown.
  if (cudaRuntimeGetVersion(&info.runtimeVersion) != cudaSuccess) info.runtimeVersion = 0;
  if (cudaDriverGetVersion(&info.driverVersion) != cudaSuccess) info.driverVersion = 0;
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    info.error = std::string("no CUDA device: ") + cudaGetErrorString(status);
    return info;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    const cudaError_t propStatus = cudaGetDeviceProperties(&prop, i);
    if (propStatus != cudaSuccess) {
      cudaGetLastError();
      info.error = "device " + std::to_string(i) + ": " + cudaGetErrorString(propStatus);
      continue;
    }
    DeviceSummary d;
    d.index = i;
    d.name = prop.name;
    d.computeCapability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
    d.totalMemory = prop.totalGlobalMem;
    d.multiprocessors = prop.multiProcessorCount;
    info.devices.push_back(d);
  }
  if (count == 0) info.error = "no CUDA device";
  return info;
}

}  // namespace flwnet::cuda
