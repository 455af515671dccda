// Per-pixel formulas of docs/numerics.md §8 that every backend evaluates identically: the sRGB ->
// CIELAB conversion, CIEDE2000 and the Gaussian SSIM window. They are inline and marked for both
// host and device so the CPU loops, the CUDA kernels and the Lab-pair entry point share one
// implementation of each formula.
#pragma once
#include <cmath>
#include <cstring>

// `static`: each translation unit keeps its own copy, so copies compiled for different
// instruction sets (native/cpu/*_avx2.cpp, *_avx512.cpp) are never merged by the linker.
#if defined(__CUDACC__)
#define FLWNET_FORMULA static inline __host__ __device__
#else
#define FLWNET_FORMULA static inline
#endif

namespace flwnet::losses {

constexpr int kSsimRadius = 5;                     // 11x11 window, zero padding 5
constexpr int kSsimTaps = 2 * kSsimRadius + 1;
constexpr double kSsimSigma = 1.5;
constexpr double kSsimC1 = 0.01 * 0.01;
constexpr double kSsimC2 = 0.03 * 0.03;
constexpr double kCosineEps = 1e-5;
constexpr double kPi = 3.14159265358979323846;

struct Lab {
  double L, a, b;
};

// The normalised 1-D Gaussian; the 2-D window is its outer product, so it is normalised too.
static inline void ssimGaussianTaps(double taps[kSsimTaps]) {
  double sum = 0.0;
  for (int k = 0; k < kSsimTaps; ++k) {
    const double d = k - kSsimRadius;
    taps[k] = std::exp(-(d * d) / (2.0 * kSsimSigma * kSsimSigma));
    sum += taps[k];
  }
  for (int k = 0; k < kSsimTaps; ++k) taps[k] /= sum;
}

// One pixel's SSIM from the blurred moments (ex = G*E, exx = G*(E^2), exy = G*(E Y), ...).
FLWNET_FORMULA double ssimFromMoments(double ex, double ey, double exx, double eyy, double exy) {
  const double mu11 = ex * ex, mu22 = ey * ey, mu12 = ex * ey;
  const double s11 = exx - mu11, s22 = eyy - mu22, s12 = exy - mu12;
  return ((2.0 * mu12 + kSsimC1) * (2.0 * s12 + kSsimC2)) / ((mu11 + mu22 + kSsimC1) * (s11 + s22 + kSsimC2));
}

// Cosine clamped to [-1, 1] before acos, as docs/numerics.md §8 requires (rounding can push it past 1).
FLWNET_FORMULA double clampCosine(double c) { return c > 1.0 ? 1.0 : (c < -1.0 ? -1.0 : c); }

// Elementary functions written out as branch-free polynomials, so that the per-pixel loops that
// call them (CIEDE2000 needs atan2, sin, cos and exp for every pixel) vectorise on the CPU and
// give the same values on the GPU. Each is accurate to about 1e-14 relative on the domain it is
// used on, far below the 1e-4 the metrics are held to.

// x rounded to the nearest integer (ties to even), for |x| < 2^51: adding and removing 1.5 * 2^52
// leaves no fraction bits. Unlike floor(), this vectorises without relaxing IEEE semantics.
FLWNET_FORMULA double roundNearest(double x) { return (x + 6755399441055744.0) - 6755399441055744.0; }

// atan(u) for |u| <= tan(pi/8) by its Taylor series (the first omitted term is below 1e-14).
FLWNET_FORMULA double atanReduced(double u) {
  const double u2 = u * u;
  double p = -1.0 / 31.0;
  p = p * u2 + 1.0 / 29.0;
  p = p * u2 - 1.0 / 27.0;
  p = p * u2 + 1.0 / 25.0;
  p = p * u2 - 1.0 / 23.0;
  p = p * u2 + 1.0 / 21.0;
  p = p * u2 - 1.0 / 19.0;
  p = p * u2 + 1.0 / 17.0;
  p = p * u2 - 1.0 / 15.0;
  p = p * u2 + 1.0 / 13.0;
  p = p * u2 - 1.0 / 11.0;
  p = p * u2 + 1.0 / 9.0;
  p = p * u2 - 1.0 / 7.0;
  p = p * u2 + 1.0 / 5.0;
  p = p * u2 - 1.0 / 3.0;
  p = p * u2 + 1.0;
  return u * p;
}

// atan2(y, x) in radians, in [-pi, pi]; 0 for (0, 0).
FLWNET_FORMULA double polyAtan2(double y, double x) {
  const double ax = fabs(x), ay = fabs(y);
  const double hi = ax > ay ? ax : ay, lo = ax > ay ? ay : ax;
  const double t = hi > 0.0 ? lo / hi : 0.0;
  // atan(t) = pi/4 + atan((t - 1) / (t + 1)) brings t in (tan(pi/8), 1] into the series' range.
  const bool upper = t > 0.41421356237309503;
  double r = atanReduced(upper ? (t - 1.0) / (t + 1.0) : t) + (upper ? kPi / 4.0 : 0.0);
  r = ay > ax ? kPi / 2.0 - r : r;
  r = x < 0.0 ? kPi - r : r;
  return y < 0.0 ? -r : r;
}

// acos through atan2, with 1 - c^2 formed as (1 - c)(1 + c) to keep precision near c = 1.
FLWNET_FORMULA double polyAcos(double c) { return polyAtan2(sqrt((1.0 - c) * (1.0 + c)), c); }

struct SinCos {
  double sin, cos;
};

// sin and cos of an angle in degrees: exact reduction to [-45, 45] degrees, then Taylor series
// (first omitted terms below 1e-16).
FLWNET_FORMULA SinCos polySinCosDegrees(double degrees) {
  const double k = roundNearest(degrees / 90.0);
  const double r = (degrees - 90.0 * k) * (kPi / 180.0);
  const double r2 = r * r;
  double s = -1.0 / 1307674368000.0;  // -1/15!
  s = s * r2 + 1.0 / 6227020800.0;
  s = s * r2 - 1.0 / 39916800.0;
  s = s * r2 + 1.0 / 362880.0;
  s = s * r2 - 1.0 / 5040.0;
  s = s * r2 + 1.0 / 120.0;
  s = s * r2 - 1.0 / 6.0;
  s = (s * r2 + 1.0) * r;
  double c = 1.0 / 20922789888000.0;  // 1/16!
  c = c * r2 - 1.0 / 87178291200.0;
  c = c * r2 + 1.0 / 479001600.0;
  c = c * r2 - 1.0 / 3628800.0;
  c = c * r2 + 1.0 / 40320.0;
  c = c * r2 - 1.0 / 720.0;
  c = c * r2 + 1.0 / 24.0;
  c = c * r2 - 0.5;
  c = c * r2 + 1.0;
  const double quadrant = k - 4.0 * roundNearest((k - 1.5) / 4.0);  // k mod 4, in 0..3
  const double sinOut = quadrant == 0.0 ? s : (quadrant == 1.0 ? c : (quadrant == 2.0 ? -s : -c));
  const double cosOut = quadrant == 0.0 ? c : (quadrant == 1.0 ? -s : (quadrant == 2.0 ? -c : s));
  return SinCos{sinOut, cosOut};
}

// exp(x) for x <= 0 (flushed to 0 below -700): x = n ln2 + r with |r| <= ln2 / 2, Taylor series for
// e^r, and 2^n assembled in the exponent bits.
FLWNET_FORMULA double polyExpNonPositive(double x) {
  x = x < -700.0 ? -700.0 : x;
  const double n = roundNearest(x * 1.4426950408889634);
  const double r = (x - n * 0.6931471803691238) - n * 1.9082149292705877e-10;  // ln2 split in two
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  // Adding 1.5 * 2^52 puts n in the low mantissa bits; shifting n + 1023 into the exponent field
  // gives the double 2^n (n >= -1010 here, a normal number).
  const double shifted = n + 6755399441055744.0;
  unsigned long long bits;
  memcpy(&bits, &shifted, sizeof bits);
  bits = (bits + 1023ull) << 52;
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

// Cube root for t in [0.008, 1.01] (the range CIELAB feeds it): three Halley steps from a linear
// guess reach about 1e-14 relative everywhere on it.
FLWNET_FORMULA double polyCbrtUnit(double t) {
  double y = 0.25 + 0.75 * t;
  for (int i = 0; i < 3; ++i) {
    const double y3 = y * y * y;
    y = y * (y3 + 2.0 * t) / (2.0 * y3 + t);
  }
  return y;
}

// u^2.4 for u in [0.09, 1] (the sRGB curve's power segment): u is brought into [2^-1/2, 2^1/2)
// by four conditional doublings, ln u = 2 atanh((u - 1) / (u + 1)) - k ln2 by its series (first
// omitted term below 1e-17), then exp of 2.4 ln u.
FLWNET_FORMULA double polyPow24Unit(double u) {
  double k = 0.0;
  for (int i = 0; i < 4; ++i) {
    const bool low = u < 0.70710678118654752;
    u = low ? 2.0 * u : u;
    k += low ? 1.0 : 0.0;
  }
  const double s = (u - 1.0) / (u + 1.0), s2 = s * s;
  double p = 1.0 / 21.0;
  p = p * s2 + 1.0 / 19.0;
  p = p * s2 + 1.0 / 17.0;
  p = p * s2 + 1.0 / 15.0;
  p = p * s2 + 1.0 / 13.0;
  p = p * s2 + 1.0 / 11.0;
  p = p * s2 + 1.0 / 9.0;
  p = p * s2 + 1.0 / 7.0;
  p = p * s2 + 1.0 / 5.0;
  p = p * s2 + 1.0 / 3.0;
  p = p * s2 + 1.0;
  const double logU = 2.0 * s * p - k * 0.69314718055994531;
  return polyExpNonPositive(2.4 * logU);
}

// sRGB transfer function (IEC 61966-2-1) from a [0,1] value to linear light. Values outside
// [0,1] are clamped: CIELAB of sRGB is defined on the gamut only.
FLWNET_FORMULA double srgbToLinear(double v) {
  v = v < 0.0 ? 0.0 : (v > 1.0 ? 1.0 : v);
  const double u = v > 0.04045 ? (v + 0.055) / 1.055 : 1.0;  // keeps the power's argument in range
  return v <= 0.04045 ? v / 12.92 : polyPow24Unit(u);
}

FLWNET_FORMULA double labCompand(double t) {
  // CIE 1976: cube root above (6/29)^3, the linear segment below it.
  return t > 0.008856451679035631 ? polyCbrtUnit(t) : t * 7.787037037037037 + 16.0 / 116.0;
}

// Linear-light sRGB (D65) -> CIELAB with the D65 white point (the matrix and white of
// IEC 61966-2-1, as scikit-image's rgb2lab uses them). Inputs in [0, 1].
FLWNET_FORMULA Lab linearRgbToLab(double r, double g, double b) {
  const double x = (0.412453 * r + 0.357580 * g + 0.180423 * b) / 0.95047;
  const double y = 0.212671 * r + 0.715160 * g + 0.072169 * b;
  const double z = (0.019334 * r + 0.119193 * g + 0.950227 * b) / 1.08883;
  const double fx = labCompand(x), fy = labCompand(y), fz = labCompand(z);
  return Lab{116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)};
}

FLWNET_FORMULA double pow7(double v) {
  const double v2 = v * v;
  return v2 * v2 * v2 * v;
}

// Hue angle in degrees in [0, 360); 0 for a = b = 0 as the formula requires.
FLWNET_FORMULA double hueDegrees(double b, double aPrime) {
  const double h = polyAtan2(b, aPrime) * (180.0 / kPi);
  return h < 0.0 ? h + 360.0 : h;
}

// The hue terms of CIEDE2000: T (eq. 15) and the rotation angle 2 * dTheta (eq. 19) from the mean
// hue, with cos(k H) for k = 2, 3, 4 built from one sin/cos pair by the angle-sum identities.
FLWNET_FORMULA void hueWeights(double hMean, double& t, double& rotationSin) {
  const SinCos h1 = polySinCosDegrees(hMean);
  const double c2 = 2.0 * h1.cos * h1.cos - 1.0, s2 = 2.0 * h1.sin * h1.cos;
  const double c3 = c2 * h1.cos - s2 * h1.sin, s3 = s2 * h1.cos + c2 * h1.sin;
  const double c4 = 2.0 * c2 * c2 - 1.0, s4 = 2.0 * s2 * c2;
  const double cos30 = 0.86602540378443865, sin30 = 0.5;
  const double cos6 = 0.99452189536827329, sin6 = 0.10452846326765347;
  const double cos63 = 0.45399049973954679, sin63 = 0.89100652418836787;
  t = 1.0 - 0.17 * (h1.cos * cos30 + h1.sin * sin30) + 0.24 * c2 + 0.32 * (c3 * cos6 - s3 * sin6) -
      0.20 * (c4 * cos63 + s4 * sin63);
  const double hueOffset = (hMean - 275.0) / 25.0;
  const double dTheta = 30.0 * polyExpNonPositive(-hueOffset * hueOffset);
  rotationSin = polySinCosDegrees(2.0 * dTheta).sin;
}

// CIEDE2000 colour difference (Sharma, Wu and Dalal 2005, equations 1-22, kL = kC = kH = 1),
// branch-free so that loops over pixels vectorise.
FLWNET_FORMULA double ciede2000(const Lab& p, const Lab& q) {
  const double c1 = sqrt(p.a * p.a + p.b * p.b), c2 = sqrt(q.a * q.a + q.b * q.b);
  const double cMean7 = pow7(0.5 * (c1 + c2));
  const double g = 0.5 * (1.0 - sqrt(cMean7 / (cMean7 + 6103515625.0)));  // 25^7
  const double a1 = (1.0 + g) * p.a, a2 = (1.0 + g) * q.a;
  const double c1p = sqrt(a1 * a1 + p.b * p.b), c2p = sqrt(a2 * a2 + q.b * q.b);
  const double h1 = hueDegrees(p.b, a1), h2 = hueDegrees(q.b, a2);
  const double chromaProduct = c1p * c2p;
  const bool achromatic = chromaProduct == 0.0;

  double dh = h2 - h1;
  dh = dh > 180.0 ? dh - 360.0 : (dh < -180.0 ? dh + 360.0 : dh);
  dh = achromatic ? 0.0 : dh;
  const double dL = q.L - p.L, dC = c2p - c1p;
  const double dH = 2.0 * sqrt(chromaProduct) * polySinCosDegrees(0.5 * dh).sin;

  const double lMean = 0.5 * (p.L + q.L), cMeanP = 0.5 * (c1p + c2p);
  const double hSum = h1 + h2;
  const double hWrapped = hSum < 360.0 ? 0.5 * (hSum + 360.0) : 0.5 * (hSum - 360.0);
  // Hues exactly opposite (|h1 - h2| = 180, Sharma's pair 14) take the first branch; the slack
  // absorbs the rounding of the two atan2 values, far below any hue difference 8-bit colours give.
  const double hMean = achromatic ? hSum : (fabs(h1 - h2) <= 180.0 + 1e-9 ? 0.5 * hSum : hWrapped);
  double t, rotationSin;
  hueWeights(hMean, t, rotationSin);
  const double cMeanP7 = pow7(cMeanP);
  const double rc = 2.0 * sqrt(cMeanP7 / (cMeanP7 + 6103515625.0));
  const double lOffset = (lMean - 50.0) * (lMean - 50.0);
  const double sl = 1.0 + 0.015 * lOffset / sqrt(20.0 + lOffset);
  const double sc = 1.0 + 0.045 * cMeanP;
  const double sh = 1.0 + 0.015 * cMeanP * t;
  const double rt = -rotationSin * rc;
  const double tl = dL / sl, tc = dC / sc, th = dH / sh;
  const double sum = tl * tl + tc * tc + th * th + rt * tc * th;
  return sqrt(sum > 0.0 ? sum : 0.0);
}

}  // namespace flwnet::losses
