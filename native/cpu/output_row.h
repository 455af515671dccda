// The last step of the local branch for one row of a tile: softplus of e7's first three channels
// (docs/numerics.md §6), then the requested output format. Every instruction set's translation
// unit includes this and compiles it with its own vector width (finishRowScalar, ...Avx2,
// ...Avx512); the math uses no library calls so that the loops over a block vectorise.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "conv_kernels.h"

namespace flwnet::cpu::output_row {
// Internal linkage: each translation unit must keep its own copy, compiled for its instruction
// set, rather than the linker merging them into one.
namespace {

inline float fromBits(int32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

inline int32_t toBits(float f) {
  int32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
}

// exp(t) for t in [-87, 0]: t = n ln2 + r with |r| <= ln2 / 2, a degree-7 Taylor polynomial for
// e^r (relative error under 1e-8), and 2^n put straight into the exponent bits.
inline float expNonPositive(float t) {
  t = std::max(t, -87.0f);
  const float shift = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer in the low bits
  const float shifted = t * 1.44269504f + shift;
  const float n = shifted - shift;
  const int32_t exponent = toBits(shifted) - toBits(shift);
  const float r = (t - n * 0.693145752f) - n * 1.42860677e-6f;  // ln 2 in two parts
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  return fromBits(toBits(p) + exponent * (1 << 23));
}

// log(1 + z) for z in [0, 1] as 2 atanh(s) with s = z / (2 + z) <= 1/3: an odd series in s that
// keeps full relative accuracy for tiny z, where log(1 + z) would round 1 + z first.
inline float log1pUnit(float z) {
  const float s = z / (2.0f + z);
  const float s2 = s * s;
  float p = 1.0f / 15;
  p = p * s2 + 1.0f / 13;
  p = p * s2 + 1.0f / 11;
  p = p * s2 + 1.0f / 9;
  p = p * s2 + 1.0f / 7;
  p = p * s2 + 1.0f / 5;
  p = p * s2 + 1.0f / 3;
  p = p * s2 + 1.0f;
  return 2.0f * s * p;
}

// softplus(x) = x above 20, else log(1 + e^x), computed as max(x, 0) + log(1 + e^-|x|).
inline float softplus(float x) {
  const float smooth = std::max(x, 0.0f) + log1pUnit(expNonPositive(-std::fabs(x)));
  return x > 20.0f ? x : smooth;
}

inline void finishRow(const FinishRowArgs& args) {
  constexpr int kBlock = 16;  // pixels per block; each step below is a fixed-length loop
  float net[3 * kBlock];
  float value[3 * kBlock];
  uint8_t quantised[3 * kBlock];
  const int ch = args.channels;
  for (int first = 0; first < args.count; first += kBlock) {
    const int n = std::min(kBlock, args.count - first);
    const float* src = args.net + static_cast<long>(first) * kLanes;
    for (int p = 0; p < kBlock; ++p) {
      for (int k = 0; k < 3; ++k) net[3 * p + k] = p < n ? src[p * kLanes + k] : 0.0f;
    }
    for (int i = 0; i < 3 * kBlock; ++i) value[i] = softplus(net[i]);
    const uint8_t* alpha = args.input + static_cast<long>(first) * ch + 3;
    if (args.kind == OutputKind::U8) {
      // floor(clamp(y * 255 + 0.5, 0, 255)) in double; truncation is floor once clamped to >= 0.
      for (int i = 0; i < 3 * kBlock; ++i) {
        const double v = std::min(255.0, std::max(0.0, static_cast<double>(value[i]) * 255.0 + 0.5));
        quantised[i] = static_cast<uint8_t>(static_cast<int>(v));
      }
      uint8_t* dst = static_cast<uint8_t*>(args.output) + static_cast<long>(first) * ch;
      for (int p = 0; p < n; ++p) {
        for (int k = 0; k < 3; ++k) dst[p * ch + k] = quantised[3 * p + k];
        if (ch == 4) dst[p * ch + 3] = alpha[p * ch];
      }
    } else {
      float* dst = static_cast<float*>(args.output) + static_cast<long>(first) * ch;
      for (int p = 0; p < n; ++p) {
        for (int k = 0; k < 3; ++k) dst[p * ch + k] = value[3 * p + k];
        if (ch == 4) dst[p * ch + 3] = alpha[p * ch] / 255.0f;
      }
    }
  }
}

}  // namespace
}  // namespace flwnet::cpu::output_row
