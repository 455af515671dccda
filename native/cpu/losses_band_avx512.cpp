// The loss kernel compiled for avx512 (flags from the build files).
#include "cpu/losses_band.h"

namespace flwnet::losses {
FLWNET_DEFINE_LOSS_BAND(accumulateLossBandAvx512)
}  // namespace flwnet::losses
