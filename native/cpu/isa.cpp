#include "isa.h"

#include <string>

#include "core/error.h"
#include "winograd.h"

namespace flwnet::cpu {

const char* isaName(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Scalar: return "scalar";
    case CpuIsa::Avx2: return "avx2";
    case CpuIsa::Avx512: return "avx512";
  }
  return "scalar";
}

// The flags match what the build passes to *_avx2.cpp and *_avx512.cpp.
static bool supports(CpuIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  switch (isa) {
    case CpuIsa::Scalar: return true;
    case CpuIsa::Avx2: return avx2;
    case CpuIsa::Avx512:
      return avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
  }
  return false;
#else
  return isa == CpuIsa::Scalar;
#endif
}

static IsaChoice choiceFor(CpuIsa isa, bool winograd) {
  switch (isa) {
    case CpuIsa::Avx512: {
      const ConvKernels kernels{convRowAvx512, winograd ? winogradRowAvx512 : nullptr, convRowNarrowAvx512,
                                finishRowAvx512, inputRowAvx512};
      return IsaChoice{isa, kernels};
    }
    case CpuIsa::Avx2: {
      const ConvKernels kernels{convRowAvx2, winograd ? winogradRowAvx2 : nullptr, convRowNarrowAvx2, finishRowAvx2,
                                inputRowScalar};
      return IsaChoice{isa, kernels};
    }
    case CpuIsa::Scalar: break;
  }
  return IsaChoice{CpuIsa::Scalar, {convRowScalar, nullptr, nullptr, finishRowScalar, inputRowScalar}};
}

std::vector<CpuIsa> supportedIsas() {
  std::vector<CpuIsa> isas;
  for (CpuIsa isa : {CpuIsa::Scalar, CpuIsa::Avx2, CpuIsa::Avx512}) {
    if (supports(isa)) isas.push_back(isa);
  }
  return isas;
}

IsaChoice chooseIsa(CpuIsaSetting setting, bool winograd) {
  CpuIsa isa = CpuIsa::Scalar;
  switch (setting) {
    case CpuIsaSetting::Auto:
      isa = supports(CpuIsa::Avx512) ? CpuIsa::Avx512 : supports(CpuIsa::Avx2) ? CpuIsa::Avx2 : CpuIsa::Scalar;
      return choiceFor(isa, winograd);
    case CpuIsaSetting::Scalar: isa = CpuIsa::Scalar; break;
    case CpuIsaSetting::Avx2: isa = CpuIsa::Avx2; break;
    case CpuIsaSetting::Avx512: isa = CpuIsa::Avx512; break;
  }
  if (!supports(isa)) {
    throw Error(ErrorCode::InvalidArgument, std::string("cpuIsa '") + isaName(isa) + "' is not supported by this processor");
  }
  return choiceFor(isa, winograd);
}

}  // namespace flwnet::cpu
