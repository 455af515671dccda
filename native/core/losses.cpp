// Backend-independent parts of the losses: input validation, merging partial sums and turning
// the sums into the numbers of docs/numerics.md §8.
#include "losses.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "error.h"

namespace flwnet::losses {

void ChannelMoments::merge(const ChannelMoments& o) {
  if (!o.seen) return;
  sumA += o.sumA;
  sumB += o.sumB;
  sumAA += o.sumAA;
  sumBB += o.sumBB;
  sumAB += o.sumAB;
  minA = seen ? std::min(minA, o.minA) : o.minA;
  minB = seen ? std::min(minB, o.minB) : o.minB;
  seen = true;
}

void LossSums::merge(const LossSums& o) {
  absError += o.absError;
  squaredError += o.squaredError;
  colourOneMinus += o.colourOneMinus;
  colourAcos += o.colourAcos;
  ssim += o.ssim;
  ciede2000 += o.ciede2000;
  for (int k = 0; k < kColourChannels; ++k) brightness[k].merge(o.brightness[k]);
  for (int k = 0; k < kGradientChannels; ++k) structure[k].merge(o.structure[k]);
}

namespace {

void validateView(const PixelView& view, const char* name) {
  const std::string who(name);
  if (view.data == nullptr) FLWNET_THROW(ErrorCode::InvalidArgument, who + " image has no pixel data");
  if (view.width < 1 || view.height < 1) FLWNET_THROW(ErrorCode::InvalidArgument, who + " image is empty");
  if (view.channels != 3 && view.channels != 4)
    FLWNET_THROW(ErrorCode::InvalidArgument, who + " image must have 3 or 4 channels, not " + std::to_string(view.channels));
  if (view.width > (1 << 20) || view.height > (1 << 20) || view.pixels() > (size_t(1) << 30))
    FLWNET_THROW(ErrorCode::InvalidArgument, who + " image is too large");
}

// 1 - c + acos(c) with the cosine clamped, the shape every cosine term of the losses has.
double cosineTerm(double c) { return (1.0 - c) + std::acos(clampCosine(c)); }

}  // namespace

void validatePair(const PixelView& enhanced, const PixelView& reference) {
  validateView(enhanced, "enhanced");
  validateView(reference, "reference");
  if (enhanced.width != reference.width || enhanced.height != reference.height)
    FLWNET_THROW(ErrorCode::InvalidArgument,
                 "image sizes differ: " + std::to_string(enhanced.width) + "x" + std::to_string(enhanced.height) +
                     " vs " + std::to_string(reference.width) + "x" + std::to_string(reference.height));
}

double consistencyLoss(const ChannelMoments* channels, int count, size_t pixels) {
  const double n = static_cast<double>(pixels);
  double perChannel = 0.0, pSum = 0.0, naSquaredSum = 0.0, nbSquaredSum = 0.0;
  for (int k = 0; k < count; ++k) {
    const ChannelMoments& m = channels[k];
    // Moments of A - |min A| and B - |min B|, expanded so that one pass over the pixels suffices.
    const double sa = std::fabs(m.minA), sb = std::fabs(m.minB);
    const double meanA = m.sumA / n, meanB = m.sumB / n;
    const double p = m.sumAB / n - sb * meanA - sa * meanB + sa * sb;
    const double aa = std::max(0.0, m.sumAA / n - 2.0 * sa * meanA + sa * sa);
    const double bb = std::max(0.0, m.sumBB / n - 2.0 * sb * meanB + sb * sb);
    const double na = std::sqrt(aa), nb = std::sqrt(bb);
    perChannel += cosineTerm(p / (na * nb + kCosineEps));
    pSum += p;
    naSquaredSum += aa;
    nbSquaredSum += bb;
  }
  const double l1 = perChannel / count;
  const double normA = std::sqrt(naSquaredSum / count), normB = std::sqrt(nbSquaredSum / count);
  const double l2 = cosineTerm((pSum / count) / (normA * normB + kCosineEps));
  return l1 + l2;
}

LossReport finishLosses(const LossSums& sums, size_t pixels, const LossParts& parts) {
  // Every sample enters these sums, so a NaN or infinity anywhere in either image shows up here
  // without a separate scan of the inputs.
  for (const ChannelMoments& m : sums.brightness)
    if (!std::isfinite(m.sumA) || !std::isfinite(m.sumB))
      FLWNET_THROW(ErrorCode::InvalidArgument, "image samples must be finite numbers (found NaN or infinity)");
  const double n = static_cast<double>(pixels);
  const double samples = n * kColourChannels;
  LossReport r;
  r.l1 = sums.absError / samples;
  r.ssim = sums.ssim / samples;
  r.ssimLoss = 1.0 - r.ssim;
  r.colour = sums.colourOneMinus / n + sums.colourAcos / n;
  r.brightness = consistencyLoss(sums.brightness, kColourChannels, pixels);
  r.structure = consistencyLoss(sums.structure, kGradientChannels, pixels);
  r.total = r.ssimLoss + r.l1 + r.colour + r.brightness + r.structure;
  const double mse = sums.squaredError / samples;
  r.psnr = mse > 0.0 ? 10.0 * std::log10(1.0 / mse) : std::numeric_limits<double>::infinity();
  r.ciede2000 = sums.ciede2000 / n;
  const double missing = std::numeric_limits<double>::quiet_NaN();
  if (!parts.ssim) r.ssim = r.ssimLoss = r.total = missing;
  if (!parts.ciede2000) r.ciede2000 = missing;
  return r;
}

}  // namespace flwnet::losses
