// Weights of the mma.sync local-branch kernel in B-fragment order (mma_layout.h), as IEEE fp16
// bit patterns; plain C++ shared by the CUDA host code (upload) and the host emulation.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/model.h"
#include "cuda/mma/mma_layout.h"

namespace flwnet::mma {

// float -> fp16 bits, round to nearest even (subnormals and overflow to infinity included), as
// __float2half_rn does.
inline uint16_t halfBits(float value) {
  uint32_t f;
  std::memcpy(&f, &value, sizeof f);
  const uint32_t sign = (f >> 16) & 0x8000u;
  const uint32_t exponent = (f >> 23) & 0xffu;
  uint32_t mantissa = f & 0x7fffffu;
  if (exponent == 0xffu) return static_cast<uint16_t>(sign | 0x7c00u | (mantissa ? 0x200u : 0u));
  const int e = static_cast<int>(exponent) - 127 + 15;
  if (e >= 31) return static_cast<uint16_t>(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000u;
    const int shift = 14 - e;
    uint32_t half = mantissa >> shift;
    const uint32_t rest = mantissa & ((1u << shift) - 1);
    const uint32_t midpoint = 1u << (shift - 1);
    if (rest > midpoint || (rest == midpoint && (half & 1u))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(e) << 10) | (mantissa >> 13);
  const uint32_t rest = mantissa & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1u))) ++half;  // may carry into the exponent
  return static_cast<uint16_t>(sign | half);
}

inline float floatFromHalf(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const int exponent = (h >> 10) & 0x1f;
  const uint32_t mantissa = h & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), exponent - 25);
  }
  uint32_t bits;
  std::memcpy(&bits, &magnitude, sizeof bits);
  bits |= sign;
  std::memcpy(&magnitude, &bits, sizeof bits);
  return magnitude;
}

// Weight of group g for ring channel k and output channel n at `tap`; zero where the group has no
// such input channel or the layer no such output.
inline float groupWeight(const ModelWeights& w, int g, int tap, int k, int n) {
  const WeightGroup& group = kGroups[g];
  const ConvWeights& conv = w.conv(group.layer - 1);
  if (k < group.kBegin || k >= group.kBegin + group.cin || n >= conv.spec.cout) return 0.0f;
  const int i = k - group.kBegin + group.cinBegin;
  return conv.weight[(n * conv.spec.cin + i) * 9 + tap];
}

// kPackedHalves fp16 values: for each group, tap and lane, the lane's B elements of N half 0 then 1.
inline std::vector<uint16_t> packMmaWeights(const ModelWeights& w) {
  std::vector<uint16_t> out(kPackedHalves);
  for (int g = 0; g < kWeightGroups; ++g)
    for (int tap = 0; tap < 9; ++tap)
      for (int lane = 0; lane < 32; ++lane)
        for (int nHalf = 0; nHalf < 2; ++nHalf)
          for (int i = 0; i < 4; ++i) {
            const Element e = bElement(lane, i);
            out[packedIndex(g, tap, lane, nHalf, i)] = halfBits(groupWeight(w, g, tap, e.row, nHalf * 8 + e.col));
          }
  return out;
}

}  // namespace flwnet::mma
