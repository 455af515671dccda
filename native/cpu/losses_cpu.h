// The CPU loss kernel's entry points, one per instruction set (chosen at run time by
// evaluateCpu), and the size of the per-thread workspace they share.
#pragma once
#include <cstddef>

#include "core/losses.h"

namespace flwnet::losses {

constexpr int kBandPlanes = 6;       // E's R, G, B then Y's R, G, B, as float64
constexpr int kBandMoments = 5;      // G*E, G*Y, G*E^2, G*Y^2, G*EY of one channel
constexpr int kBandScratchRows = 8;  // per-pixel terms of one row before they are summed

constexpr size_t bandWorkspaceDoubles(int width) {
  return static_cast<size_t>(kSsimTaps) * kBandPlanes * width +
         static_cast<size_t>(kBandMoments) * (width + 2 * kSsimRadius) +
         static_cast<size_t>(kBandScratchRows + 1) * width;  // + a row of zeros
}

// Accumulates rows [rowBegin, rowEnd) of the pair into `sums`. `srgbLut` maps the 256 levels of
// 8-bit samples to linear light; `parts` says whether SSIM and CIEDE2000 are wanted; `workspace` holds bandWorkspaceDoubles(width) doubles.
using LossBandFn = void (*)(const PixelView& enhanced, const PixelView& reference, const double* srgbLut,
                            const LossParts& parts, int rowBegin, int rowEnd, double* workspace, LossSums& sums);

void accumulateLossBandGeneric(const PixelView&, const PixelView&, const double*, const LossParts&, int, int, double*,
                               LossSums&);
void accumulateLossBandAvx2(const PixelView&, const PixelView&, const double*, const LossParts&, int, int, double*,
                            LossSums&);
void accumulateLossBandAvx512(const PixelView&, const PixelView&, const double*, const LossParts&, int, int, double*,
                              LossSums&);

}  // namespace flwnet::losses
