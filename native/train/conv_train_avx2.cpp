// The training convolution kernels compiled for avx2 (flags from the build files).
#include "train/conv_train_kernels.h"

namespace flwnet::train {
extern const TrainKernels trainKernelsAvx2;
FLWNET_DEFINE_TRAIN_KERNELS(trainKernelsAvx2)
}  // namespace flwnet::train
