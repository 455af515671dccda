// The paper's losses and the quality metrics (docs/numerics.md §8) for an enhanced image E against a
// reference Y. Backends reduce the images to LossSums (float64 sums, one pass over the pixels);
// finishLosses turns them into the reported numbers, so CPU and CUDA share that last step.
#pragma once
#include <cstddef>
#include <cstdint>

#include "engine_settings.h"
#include "losses_formulas.h"

namespace flwnet::losses {

enum class SampleType { U8, F32 };

// An interleaved image whose samples are uint8 (value / 255) or float32 (already in [0, 1]);
// channels 3 or 4 (alpha ignored). Rows are packed: stride = width * channels.
struct PixelView {
  const void* data = nullptr;
  SampleType type = SampleType::U8;
  int width = 0;
  int height = 0;
  int channels = 3;

  size_t pixels() const { return static_cast<size_t>(width) * static_cast<size_t>(height); }
  size_t samples() const { return pixels() * static_cast<size_t>(channels); }
};

// Sums over the pixels of one image channel pair, enough to evaluate the consistency term C(A, B)
// after the fact: subtracting |min| is expanded algebraically, so a single pass suffices.
struct ChannelMoments {
  double sumA = 0, sumB = 0, sumAA = 0, sumBB = 0, sumAB = 0;
  double minA = 0, minB = 0;  // meaningful once `seen`
  bool seen = false;

  void merge(const ChannelMoments& o);
};

constexpr int kColourChannels = 3;
constexpr int kGradientChannels = 6;  // horizontal R, G, B then vertical R, G, B

// Everything one pass over the image pair accumulates. Partial sums from different row bands or
// GPU blocks merge by addition (and min for the minima).
struct LossSums {
  double absError = 0;       // sum over pixels and channels of |E - Y|
  double squaredError = 0;   // sum of (E - Y)^2
  double colourOneMinus = 0; // sum over pixels of 1 - c
  double colourAcos = 0;     // sum over pixels of acos(c)
  double ssim = 0;           // sum over pixels and channels of the SSIM map
  double ciede2000 = 0;      // sum over pixels of dE00
  ChannelMoments brightness[kColourChannels];
  ChannelMoments structure[kGradientChannels];

  void merge(const LossSums& o);
};

struct LossReport {
  double l1 = 0, ssimLoss = 0, colour = 0, brightness = 0, structure = 0, total = 0;
  double psnr = 0, ssim = 0, ciede2000 = 0;
};

// The costly parts a caller may leave out when it wants a single loss (the others cost little).
struct LossParts {
  bool ssim = true;       // SSIM, the SSIM loss and the total
  bool ciede2000 = true;  // CIEDE2000
};

// Throws InvalidArgument unless both views are usable and describe the same width and height.
void validatePair(const PixelView& enhanced, const PixelView& reference);

// Turns the sums of a whole image pair into the reported losses and metrics.
LossReport finishLosses(const LossSums& sums, size_t pixels, const LossParts& parts);

// C(A, B) of docs/numerics.md §8 from per-channel moments over `pixels` pixels.
double consistencyLoss(const ChannelMoments* channels, int count, size_t pixels);

// CPU evaluation, multithreaded over row bands (threads = 0: all hardware threads). Fields of
// parts left out are reported as NaN; `isa` forces an instruction set as for inference. Throws
// flwnet::Error on invalid input.
LossReport evaluateCpu(const PixelView& enhanced, const PixelView& reference, int threads, LossParts parts = {},
                       CpuIsaSetting isa = CpuIsaSetting::Auto);

#if FLWNET_WITH_CUDA
// The CUDA twin of evaluateCpu on device `deviceIndex`; same sums in float64.
LossReport evaluateCuda(const PixelView& enhanced, const PixelView& reference, int deviceIndex);
#endif

}  // namespace flwnet::losses
