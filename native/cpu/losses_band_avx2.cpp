// The loss kernel compiled for avx2 (flags from the build files).
#include "cpu/losses_band.h"

namespace flwnet::losses {
FLWNET_DEFINE_LOSS_BAND(accumulateLossBandAvx2)
}  // namespace flwnet::losses
