#include "isa.h"

#include <cstdlib>
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

static bool winogradAllowed() {
  const char* setting = std::getenv("FLWNET_CPU_WINOGRAD");
  if (setting == nullptr || *setting == '\0') return true;
  const std::string value(setting);
  if (value == "0") return false;
  if (value == "1") return true;
  throw Error(ErrorCode::InvalidArgument, "FLWNET_CPU_WINOGRAD must be 0 or 1, got '" + value + "'");
}

static IsaChoice choiceFor(CpuIsa isa) {
  const bool winograd = winogradAllowed();
  switch (isa) {
    case CpuIsa::Avx512: {
      const ConvKernels kernels{convRowAvx512, winograd ? winogradRowAvx512 : nullptr, convRowNarrowAvx512,
                                finishRowAvx512};
      return IsaChoice{isa, kernels};
    }
    case CpuIsa::Avx2: {
      const ConvKernels kernels{convRowAvx2, winograd ? winogradRowAvx2 : nullptr, convRowNarrowAvx2, finishRowAvx2};
      return IsaChoice{isa, kernels};
    }
    case CpuIsa::Scalar: break;
  }
  return IsaChoice{CpuIsa::Scalar, {convRowScalar, nullptr, nullptr, finishRowScalar}};
}

IsaChoice chooseIsa() {
  const char* forced = std::getenv("FLWNET_CPU_ISA");
  if (forced != nullptr && *forced != '\0') {
    const std::string name(forced);
    for (CpuIsa isa : {CpuIsa::Scalar, CpuIsa::Avx2, CpuIsa::Avx512}) {
      if (name != isaName(isa)) continue;
      if (!supports(isa)) {
        throw Error(ErrorCode::InvalidArgument, "FLWNET_CPU_ISA=" + name + " but this processor does not support it");
      }
      return choiceFor(isa);
    }
    throw Error(ErrorCode::InvalidArgument, "FLWNET_CPU_ISA must be scalar, avx2 or avx512, got '" + name + "'");
  }
  if (supports(CpuIsa::Avx512)) return choiceFor(CpuIsa::Avx512);
  if (supports(CpuIsa::Avx2)) return choiceFor(CpuIsa::Avx2);
  return choiceFor(CpuIsa::Scalar);
}

}  // namespace flwnet::cpu
