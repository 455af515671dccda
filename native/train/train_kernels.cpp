#include "train/train_kernels.h"

#include "cpu/isa.h"

namespace flwnet::train {

extern const TrainKernels trainKernelsGeneric;
extern const TrainKernels trainKernelsAvx2;
extern const TrainKernels trainKernelsAvx512;

const TrainKernels& chooseTrainKernels(CpuIsaSetting setting) {
  switch (cpu::chooseIsa(setting, false).isa) {
    case cpu::CpuIsa::Avx512: return trainKernelsAvx512;
    case cpu::CpuIsa::Avx2: return trainKernelsAvx2;
    case cpu::CpuIsa::Scalar: break;
  }
  return trainKernelsGeneric;
}

}  // namespace flwnet::train
