// The global branch (docs/numerics.md §2-§3): V-channel level counts -> 15 features -> 7 curve
// parameters. Level counting is the only per-pixel part; backends may count on their device and
// hand the 256 counts to featuresFromLevelCounts, which is the single definition of the bin rule.
#pragma once
#include <array>
#include <cstdint>

#include "image.h"
#include "model.h"

namespace flwnet {

struct GlobalFeatures {
  std::array<double, kFeatureCount> f{};  // bins 0..11 (fractions), vmin, vmax, exposure
};
struct CurveParams {
  std::array<double, kCurveCount> a{};
};
using LevelCounts = std::array<uint64_t, kLevels>;

// Counts how many pixels have V = max(R, G, B) equal to each level 0..255.
LevelCounts countVLevels(const ImageU8& image);

// Maps each of the 256 levels to its histogram bin for the V range [vmin, vmax] (in levels),
// exactly as numpy.histogram does in IEEE double (docs/numerics.md §2). Levels outside the range -> -1.
std::array<int8_t, kLevels> levelBins(int vminLevel, int vmaxLevel);

GlobalFeatures featuresFromLevelCounts(const LevelCounts& counts, double exposure);

// The five dense layers with LeakyReLU after each (the GFE), evaluated in double.
CurveParams curveFromFeatures(const ModelWeights& weights, const GlobalFeatures& features);

}  // namespace flwnet
