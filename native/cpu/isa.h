// Run-time choice of the CPU kernels. The environment variable FLWNET_CPU_ISA=scalar|avx2|avx512
// forces one (for testing the paths against each other); otherwise the best the processor
// supports is used. Forcing one the processor lacks is an InvalidArgument error, not a crash.
#pragma once
#include "conv_kernels.h"

namespace flwnet::cpu {

enum class CpuIsa { Scalar, Avx2, Avx512 };

struct IsaChoice {
  CpuIsa isa;
  ConvRowKernel convRow;
};

IsaChoice chooseIsa();
const char* isaName(CpuIsa isa);

}  // namespace flwnet::cpu
