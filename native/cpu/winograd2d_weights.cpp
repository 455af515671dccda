#include <array>

#include "core/error.h"
#include "winograd.h"
#include "winograd2d.h"

namespace flwnet::cpu {
namespace {

// G of F(6,3), the same interpolation points and order as winograd_weights.cpp.
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

std::vector<float> winograd2dWeights(const std::vector<float>& direct, const int* sourceChannels, int sourceCount) {
  int reduction = 0;
  for (int s = 0; s < sourceCount; ++s) reduction += sourceChannels[s];
  FLWNET_CHECK(direct.size() == static_cast<size_t>(9) * reduction * kLanes, "direct weights do not match the sources");
  std::vector<float> out(static_cast<size_t>(kPoints2d) * reduction * kLanes);
  const float* src = direct.data();  // [source][ky][kx][ci][16]
  int k = 0;                         // row of the reduction: (source, ci)
  for (int s = 0; s < sourceCount; ++s) {
    const int channels = sourceChannels[s];
    for (int ci = 0; ci < channels; ++ci, ++k) {
      for (int co = 0; co < kLanes; ++co) {
        double g[3][3];
        for (int ky = 0; ky < 3; ++ky) {
          for (int kx = 0; kx < 3; ++kx) g[ky][kx] = src[((ky * 3 + kx) * channels + ci) * kLanes + co];
        }
        for (int py = 0; py < kWinogradPoints; ++py) {
          double row[3];  // (G g)[py][kx]
          for (int kx = 0; kx < 3; ++kx) row[kx] = kG[py][0] * g[0][kx] + kG[py][1] * g[1][kx] + kG[py][2] * g[2][kx];
          for (int px = 0; px < kWinogradPoints; ++px) {
            const double u = row[0] * kG[px][0] + row[1] * kG[px][1] + row[2] * kG[px][2];
            out[(static_cast<size_t>(py * kWinogradPoints + px) * reduction + k) * kLanes + co] = static_cast<float>(u);
          }
        }
      }
    }
    src += static_cast<size_t>(9) * channels * kLanes;
  }
  return out;
}

}  // namespace flwnet::cpu
