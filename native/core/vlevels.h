// Row-range V-level counting, so a backend can split countVLevels over its own worker threads.
#pragma once
#include "global_branch.h"

namespace flwnet {

// Adds to `counts` the V levels (max of R, G, B) of rows [rowBegin, rowEnd) of `image`.
void addVLevels(const ImageU8& image, int rowBegin, int rowEnd, LevelCounts& counts);

}  // namespace flwnet
