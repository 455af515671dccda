// Run-time choice of the CPU kernels. The environment variable FLWNET_CPU_ISA=scalar|avx2|avx512
// forces one (for testing the paths against each other); otherwise the best the processor
// supports is used. Forcing one the processor lacks is an InvalidArgument error, not a crash.
// FLWNET_CPU_WINOGRAD=0 keeps e1..e6 on the direct kernels (for comparing the two); the scalar
// path, the reference, is always direct.
#pragma once
#include "conv_kernels.h"

namespace flwnet::cpu {

enum class CpuIsa { Scalar, Avx2, Avx512 };

struct IsaChoice {
  CpuIsa isa;
  ConvKernels kernels;
};

IsaChoice chooseIsa();
const char* isaName(CpuIsa isa);

}  // namespace flwnet::cpu
