// The training convolution kernels compiled for avx512 (flags from the build files).
#define FLWNET_TRAIN_PIXEL_BLOCK 8
#include "train/conv_train_kernels.h"

namespace flwnet::train {
extern const TrainKernels trainKernelsAvx512;
FLWNET_DEFINE_TRAIN_KERNELS(trainKernelsAvx512)
}  // namespace flwnet::train
