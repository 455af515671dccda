#include "winograd.h"

#include <array>

#include "core/error.h"

namespace flwnet::cpu {
namespace {

// G of F(6,3) with interpolation points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity (the order of
// B^T's rows in winograd_avx512.cpp).
constexpr std::array<std::array<double, 3>, kWinogradPoints> kG = {{
    {1.0, 0.0, 0.0},
    {-2.0 / 9, -2.0 / 9, -2.0 / 9},
    {-2.0 / 9, 2.0 / 9, -2.0 / 9},
    {1.0 / 90, 1.0 / 45, 2.0 / 45},
    {1.0 / 90, -1.0 / 45, 2.0 / 45},
    {32.0 / 45, 16.0 / 45, 8.0 / 45},
    {32.0 / 45, -16.0 / 45, 8.0 / 45},
    {0.0, 0.0, 1.0},
}};

}  // namespace

std::vector<float> winogradWeights(const std::vector<float>& direct, const int* sourceChannels, int sourceCount) {
  int reduction = 0;
  for (int s = 0; s < sourceCount; ++s) reduction += 3 * sourceChannels[s];
  FLWNET_CHECK(direct.size() == static_cast<size_t>(3) * reduction * kLanes, "direct weights do not match the sources");
  std::vector<float> out(static_cast<size_t>(kWinogradPoints) * reduction * kLanes);
  const float* src = direct.data();  // [source][ky][kx][ci][16]
  int k = 0;                         // row of the reduction: (source, ky, ci)
  for (int s = 0; s < sourceCount; ++s) {
    const int channels = sourceChannels[s];
    for (int ky = 0; ky < 3; ++ky) {
      for (int ci = 0; ci < channels; ++ci, ++k) {
        for (int co = 0; co < kLanes; ++co) {
          double g[3];
          for (int kx = 0; kx < 3; ++kx) g[kx] = src[((ky * 3 + kx) * channels + ci) * kLanes + co];
          for (int t = 0; t < kWinogradPoints; ++t) {
            const double u = kG[t][0] * g[0] + kG[t][1] * g[1] + kG[t][2] * g[2];
            out[(static_cast<size_t>(t) * reduction + k) * kLanes + co] = static_cast<float>(u);
          }
        }
      }
    }
    src += static_cast<size_t>(9) * channels * kLanes;
  }
  return out;
}

}  // namespace flwnet::cpu
