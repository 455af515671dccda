// The training convolution kernels compiled for generic (flags from the build files).
#include "train/conv_train_kernels.h"

namespace flwnet::train {
extern const TrainKernels trainKernelsGeneric;
FLWNET_DEFINE_TRAIN_KERNELS(trainKernelsGeneric)
}  // namespace flwnet::train
