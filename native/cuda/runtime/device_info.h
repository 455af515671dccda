// What the CUDA runtime reports about this machine, as plain C++ data (no CUDA headers), so the
// addon's cudaInfo() compiles in CPU-only builds too.
#pragma once
#include <cstddef>
#include <string>
#include <vector>

namespace flwnet::cuda {

struct DeviceSummary {
  int index = 0;
  std::string name;
  std::string computeCapability;  // "9.0"
  size_t totalMemory = 0;         // bytes
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;       // this build contains the CUDA backend
  bool cudnnCompiled = false;  // ... and the cuDNN backend
  int runtimeVersion = 0;      // e.g. 13000 for CUDA 13.0
  int driverVersion = 0;       // 0 when no driver is installed
  std::vector<DeviceSummary> devices;
  std::string error;           // why devices is empty, when the runtime said so
};

// Never throws for a missing driver or device: those leave `devices` empty and explain in `error`.
// Only defined in CUDA builds.
CudaInfo queryCudaInfo();

}  // namespace flwnet::cuda
