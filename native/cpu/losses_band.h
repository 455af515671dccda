// The CPU loss kernel: one pass over a band of rows accumulating LossSums. It is included by one
// source file per instruction set (losses_band_generic.cpp, _avx2.cpp, _avx512.cpp) so the
// compiler vectorises the same loops for each. Everything here has internal linkage and no
// standard container is instantiated here (the caller owns the workspace), so the copies built
// with different instruction sets never mix at link time.
//
// Rows are converted once to planar float64 in a ring of kSsimTaps rows; the SSIM window is applied
// vertically from the ring, then horizontally, and every other per-pixel statistic of the row is
// taken from the same ring, so each input sample is read from memory once.
#pragma once
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/losses.h"
#include "cpu/losses_cpu.h"

namespace flwnet::losses {
namespace {

constexpr int kLanes = 8;  // independent partial sums: lets the compiler vectorise reductions

// Sum of v[0..n) in a fixed order (kLanes interleaved partial sums, then the tail).
inline double laneSum(const double* __restrict v, int n) {
  double lanes[kLanes] = {};
  int j = 0;
  for (; j + kLanes <= n; j += kLanes)
    for (int l = 0; l < kLanes; ++l) lanes[l] += v[j + l];
  double total = 0.0;
  for (; j < n; ++j) total += v[j];
  for (int l = 0; l < kLanes; ++l) total += lanes[l];
  return total;
}

// Adds one row of a channel pair to its consistency moments in one pass (kLanes partial sums
// per moment, so the loop vectorises while the summation order stays fixed).
inline void addMoments(ChannelMoments& m, const double* __restrict a, const double* __restrict b, int n) {
  double sa[kLanes] = {}, sb[kLanes] = {}, saa[kLanes] = {}, sbb[kLanes] = {}, sab[kLanes] = {};
  double mina[kLanes], minb[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    mina[l] = a[0];
    minb[l] = b[0];
  }
  int j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const double x = a[j + l], y = b[j + l];
      sa[l] += x;
      sb[l] += y;
      saa[l] += x * x;
      sbb[l] += y * y;
      sab[l] += x * y;
      mina[l] = x < mina[l] ? x : mina[l];
      minb[l] = y < minb[l] ? y : minb[l];
    }
  }
  for (; j < n; ++j) {
    const double x = a[j], y = b[j];
    sa[0] += x;
    sb[0] += y;
    saa[0] += x * x;
    sbb[0] += y * y;
    sab[0] += x * y;
    mina[0] = x < mina[0] ? x : mina[0];
    minb[0] = y < minb[0] ? y : minb[0];
  }
  for (int l = 0; l < kLanes; ++l) {
    m.sumA += sa[l];
    m.sumB += sb[l];
    m.sumAA += saa[l];
    m.sumBB += sbb[l];
    m.sumAB += sab[l];
    const bool first = !m.seen && l == 0;
    m.minA = first || mina[l] < m.minA ? mina[l] : m.minA;
    m.minB = first || minb[l] < m.minB ? minb[l] : m.minB;
  }
  m.seen = true;
}

// Vertical pass of the window for one channel: moments of E, Y, E^2, Y^2 and EY over the
// kSsimTaps rows around the output row (rows outside the image point at a row of zeros). All taps
// of a column are summed in registers, so each moment is stored once.
inline void verticalMomentsRow(const double* const* eRows, const double* const* yRows, const double* __restrict taps,
                               int n, double* __restrict m0, double* __restrict m1, double* __restrict m2,
                               double* __restrict m3, double* __restrict m4) {
  for (int j = 0; j < n; ++j) {
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0, q4 = 0;
    for (int k = 0; k < kSsimTaps; ++k) {
      const double e = eRows[k][j], y = yRows[k][j];
      const double ew = taps[k] * e, yw = taps[k] * y;
      q0 += ew;
      q1 += yw;
      q2 += ew * e;
      q3 += yw * y;
      q4 += ew * y;
    }
    m0[j] = q0;
    m1[j] = q1;
    m2[j] = q2;
    m3[j] = q3;
    m4[j] = q4;
  }
}

// Horizontal pass over the vertically blurred moments (each padded by kSsimRadius zeros either
// side, rows `stride` apart) and the SSIM map of one row.
inline void ssimMapRow(const double* __restrict moments, int stride, const double* __restrict taps, int n,
                       double* __restrict map) {
  const double* m0 = moments;
  const double* m1 = m0 + stride;
  const double* m2 = m1 + stride;
  const double* m3 = m2 + stride;
  const double* m4 = m3 + stride;
  for (int j = 0; j < n; ++j) {
    double q0 = 0, q1 = 0, q2 = 0, q3 = 0, q4 = 0;
    for (int k = 0; k < kSsimTaps; ++k) {
      q0 += taps[k] * m0[j + k];
      q1 += taps[k] * m1[j + k];
      q2 += taps[k] * m2[j + k];
      q3 += taps[k] * m3[j + k];
      q4 += taps[k] * m4[j + k];
    }
    map[j] = ssimFromMoments(q0, q1, q2, q3, q4);
  }
}

// Per-pixel |E - Y| and (E - Y)^2 summed over channels, and the colour cosine, of one row.
// `rgb` holds E's R, G, B then Y's R, G, B rows.
inline void pixelTermsRow(const double* const* rgb, int n, double* __restrict absOut, double* __restrict sqOut,
                          double* __restrict cosOut) {
  const double* __restrict e0 = rgb[0];
  const double* __restrict e1 = rgb[1];
  const double* __restrict e2 = rgb[2];
  const double* __restrict y0 = rgb[3];
  const double* __restrict y1 = rgb[4];
  const double* __restrict y2 = rgb[5];
  for (int j = 0; j < n; ++j) {
    const double d0 = e0[j] - y0[j], d1 = e1[j] - y1[j], d2 = e2[j] - y2[j];
    absOut[j] = fabs(d0) + fabs(d1) + fabs(d2);
    sqOut[j] = d0 * d0 + d1 * d1 + d2 * d2;
    const double dot = (e0[j] * y0[j] + e1[j] * y1[j] + e2[j] * y2[j]) / 3.0;
    const double ne = sqrt((e0[j] * e0[j] + e1[j] * e1[j] + e2[j] * e2[j]) / 3.0);
    const double ny = sqrt((y0[j] * y0[j] + y1[j] * y1[j] + y2[j] * y2[j]) / 3.0);
    cosOut[j] = clampCosine(dot / (ne * ny + kCosineEps));
  }
}

// CIEDE2000 of one row from linear-light rows (E's R, G, B then Y's R, G, B, each n apart).
inline void ciede2000Row(const double* __restrict linear, int n, double* __restrict out) {
  for (int j = 0; j < n; ++j) {
    const Lab le = linearRgbToLab(linear[j], linear[n + j], linear[2 * n + j]);
    const Lab ly = linearRgbToLab(linear[3 * n + j], linear[4 * n + j], linear[5 * n + j]);
    out[j] = ciede2000(le, ly);
  }
}

class BandAccumulator {
 public:
  // `workspace` holds bandWorkspaceDoubles(width) doubles.
  BandAccumulator(const PixelView& enhanced, const PixelView& reference, const double* srgbLut, double* workspace)
      : e_(enhanced), y_(reference), lut_(srgbLut), w_(enhanced.width), h_(enhanced.height) {
    ssimGaussianTaps(taps_);
    ring_ = workspace;
    blurred_ = ring_ + static_cast<size_t>(kSsimTaps) * kBandPlanes * w_;
    scratch_ = blurred_ + static_cast<size_t>(kBandMoments) * (w_ + 2 * kSsimRadius);
    zeros_ = scratch_ + static_cast<size_t>(kBandScratchRows) * w_;
    // The zero padding either side of each blurred row, and the zero row, are never written again.
    const size_t blurredCount = static_cast<size_t>(kBandMoments) * (w_ + 2 * kSsimRadius);
    for (size_t i = 0; i < blurredCount; ++i) blurred_[i] = 0.0;
    for (int j = 0; j < w_; ++j) zeros_[j] = 0.0;
  }

  // Accumulates rows [rowBegin, rowEnd) into `sums`.
  void run(const LossParts& parts, int rowBegin, int rowEnd, LossSums& sums) {
    int loaded = rowBegin - kSsimRadius > 0 ? rowBegin - kSsimRadius : 0;
    for (int r = rowBegin; r < rowEnd; ++r) {
      const int need = r + kSsimRadius < h_ - 1 ? r + kSsimRadius : h_ - 1;
      for (; loaded <= need; ++loaded) loadRow(loaded);
      if (parts.ssim) addSsim(r, sums);
      addPixelTerms(r, sums);
      addStructure(r, sums);
      if (parts.ciede2000) addCiede2000(r, sums);
    }
  }

 private:

  // Plane p (0..5) of image row `row`, which must be in the ring.
  double* plane(int row, int p) { return ring_ + (static_cast<size_t>(row % kSsimTaps) * kBandPlanes + p) * w_; }

  // De-interleaves row `row` of both images into float64 planes (alpha, if any, is skipped).
  void loadRow(int row) {
    for (int img = 0; img < 2; ++img) {
      const PixelView& v = img == 0 ? e_ : y_;
      double* out = plane(row, img * 3);
      const size_t offset = static_cast<size_t>(row) * w_ * v.channels;
      const bool bytes = v.type == SampleType::U8;
      const uint8_t* u8 = static_cast<const uint8_t*>(v.data) + offset;
      const float* f32 = static_cast<const float*>(v.data) + offset;
      if (v.channels == 3) {
        bytes ? deinterleave<3>(u8, out) : deinterleave<3>(f32, out);
      } else {
        bytes ? deinterleave<4>(u8, out) : deinterleave<4>(f32, out);
      }
    }
  }

  // Planes of one row are w_ apart in the ring; the channel count is a constant so the strided
  // reads vectorise. u8 samples are divided by 255 (not multiplied by its inverse) to match the
  // reference's rounding exactly.
  template <int Channels, typename Sample>
  void deinterleave(const Sample* __restrict src, double* __restrict out) {
    double* __restrict r = out;
    double* __restrict g = out + w_;
    double* __restrict b = out + 2 * static_cast<size_t>(w_);
    const int n = w_;
    if constexpr (std::is_same_v<Sample, uint8_t>) {
      for (int j = 0; j < n; ++j) {
        r[j] = src[j * Channels] / 255.0;
        g[j] = src[j * Channels + 1] / 255.0;
        b[j] = src[j * Channels + 2] / 255.0;
      }
    } else {
      for (int j = 0; j < n; ++j) {
        r[j] = src[j * Channels];
        g[j] = src[j * Channels + 1];
        b[j] = src[j * Channels + 2];
      }
    }
  }

  // Vertical pass of the window for channel c around row r into blurred_ (zero-padded rows).
  void blurColumns(int r, int c) {
    const int stride = w_ + 2 * kSsimRadius;
    const double* eRows[kSsimTaps];
    const double* yRows[kSsimTaps];
    for (int k = 0; k < kSsimTaps; ++k) {
      const int row = r + k - kSsimRadius;
      const bool inside = row >= 0 && row < h_;
      eRows[k] = inside ? plane(row, c) : zeros_;
      yRows[k] = inside ? plane(row, 3 + c) : zeros_;
    }
    double* m = blurred_ + kSsimRadius;
    verticalMomentsRow(eRows, yRows, taps_, w_, m, m + stride, m + 2 * stride, m + 3 * stride, m + 4 * stride);
  }

  void addSsim(int r, LossSums& sums) {
    double total = 0.0;
    for (int c = 0; c < 3; ++c) {
      blurColumns(r, c);
      ssimMapRow(blurred_, w_ + 2 * kSsimRadius, taps_, w_, scratch_);
      total += laneSum(scratch_, w_);
    }
    sums.ssim += total;
  }

  // L1, squared error, colour and brightness terms of row r.
  void addPixelTerms(int r, LossSums& sums) {
    const double* rgb[kBandPlanes];
    for (int k = 0; k < kBandPlanes; ++k) rgb[k] = plane(r, k);
    double* absRow = scratch_;
    double* sqRow = absRow + w_;
    double* cosRow = sqRow + w_;
    double* acosRow = cosRow + w_;
    pixelTermsRow(rgb, w_, absRow, sqRow, cosRow);
    for (int j = 0; j < w_; ++j) acosRow[j] = polyAcos(cosRow[j]);
    sums.absError += laneSum(absRow, w_);
    sums.squaredError += laneSum(sqRow, w_);
    sums.colourOneMinus += static_cast<double>(w_) - laneSum(cosRow, w_);
    sums.colourAcos += laneSum(acosRow, w_);
    for (int c = 0; c < 3; ++c) addMoments(sums.brightness[c], rgb[c], rgb[3 + c], w_);
  }

  // Absolute horizontal and vertical differences of row r (the neighbour past the edge is 0).
  void addStructure(int r, LossSums& sums) {
    double* gradA = scratch_ + 3 * w_;
    double* gradB = gradA + w_;
    const bool lastRow = r + 1 >= h_;
    for (int c = 0; c < 3; ++c) {
      const double* a = plane(r, c);
      const double* b = plane(r, 3 + c);
      for (int j = 0; j + 1 < w_; ++j) {
        gradA[j] = fabs(a[j] - a[j + 1]);
        gradB[j] = fabs(b[j] - b[j + 1]);
      }
      gradA[w_ - 1] = fabs(a[w_ - 1]);
      gradB[w_ - 1] = fabs(b[w_ - 1]);
      addMoments(sums.structure[c], gradA, gradB, w_);
      const double* belowA = lastRow ? nullptr : plane(r + 1, c);
      const double* belowB = lastRow ? nullptr : plane(r + 1, 3 + c);
      for (int j = 0; j < w_; ++j) {
        gradA[j] = fabs(a[j] - (lastRow ? 0.0 : belowA[j]));
        gradB[j] = fabs(b[j] - (lastRow ? 0.0 : belowB[j]));
      }
      addMoments(sums.structure[3 + c], gradA, gradB, w_);
    }
  }

  // Linear light of row r's samples: 8-bit levels through the table, floats through the formula.
  void linearizeRow(const PixelView& v, int r, int firstPlane, double* out) {
    const size_t base = static_cast<size_t>(r) * w_ * v.channels;
    const int ch = v.channels;
    for (int c = 0; c < 3; ++c) {
      double* __restrict dst = out + static_cast<size_t>(c) * w_;
      if (v.type == SampleType::U8) {
        const uint8_t* __restrict src = static_cast<const uint8_t*>(v.data) + base + c;
        for (int j = 0; j < w_; ++j) dst[j] = lut_[src[j * ch]];
      } else {
        const double* __restrict values = plane(r, firstPlane + c);
        for (int j = 0; j < w_; ++j) dst[j] = srgbToLinear(values[j]);
      }
    }
  }

  void addCiede2000(int r, LossSums& sums) {
    double* linear = scratch_;  // 6 rows
    double* deRow = scratch_ + static_cast<size_t>(kBandPlanes) * w_;
    linearizeRow(e_, r, 0, linear);
    linearizeRow(y_, r, 3, linear + static_cast<size_t>(3) * w_);
    ciede2000Row(linear, w_, deRow);
    sums.ciede2000 += laneSum(deRow, w_);
  }

  const PixelView& e_;
  const PixelView& y_;
  const double* lut_;  // sRGB -> linear for the 256 levels of 8-bit samples
  const int w_, h_;
  double taps_[kSsimTaps];
  double* ring_;     // kSsimTaps rows of kBandPlanes planes
  double* blurred_;  // kBandMoments zero-padded rows
  double* scratch_;  // kBandScratchRows rows
  double* zeros_;    // one row of zeros: the window's rows above and below the image
};

}  // namespace

// Defines the entry point for one instruction set; `name` is declared in cpu/losses_cpu.h.
#define FLWNET_DEFINE_LOSS_BAND(name)                                                                   \
  void name(const PixelView& enhanced, const PixelView& reference, const double* srgbLut,             \
            const LossParts& parts, int rowBegin, int rowEnd, double* workspace, LossSums& sums) {       \
    BandAccumulator(enhanced, reference, srgbLut, workspace).run(parts, rowBegin, rowEnd, sums);      \
  }

}  // namespace flwnet::losses
