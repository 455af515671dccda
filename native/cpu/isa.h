// Run-time choice of the CPU kernels. BackendOptions::cpuIsa forces one instruction set (for
// testing the paths against each other); Auto takes the best the processor supports. Forcing one
// the processor lacks is an InvalidArgument error, not a crash. cpuWinograd = false keeps e1..e6
// on the direct kernels (for comparing the two); the scalar path, the reference, is always direct.
#pragma once
#include <vector>

#include "conv_kernels.h"
#include "core/engine_settings.h"

namespace flwnet::cpu {

enum class CpuIsa { Scalar, Avx2, Avx512 };

struct IsaChoice {
  CpuIsa isa;
  ConvKernels kernels;
};

IsaChoice chooseIsa(CpuIsaSetting setting, bool winograd);
// The instruction sets this processor runs, scalar first.
std::vector<CpuIsa> supportedIsas();
const char* isaName(CpuIsa isa);

}  // namespace flwnet::cpu
