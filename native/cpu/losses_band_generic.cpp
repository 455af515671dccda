// The loss kernel compiled for the baseline instruction set.
#include "cpu/losses_band.h"

namespace flwnet::losses {
FLWNET_DEFINE_LOSS_BAND(accumulateLossBandGeneric)
}  // namespace flwnet::losses
