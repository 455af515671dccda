#include "core/error.h"
#include "winograd.h"
#include "winograd2d.h"

namespace flwnet::cpu {

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
          for (int kx = 0; kx < 3; ++kx) row[kx] = kWinogradG[py][0] * g[0][kx] + kWinogradG[py][1] * g[1][kx] + kWinogradG[py][2] * g[2][kx];
          for (int px = 0; px < kWinogradPoints; ++px) {
            const double u = row[0] * kWinogradG[px][0] + row[1] * kWinogradG[px][1] + row[2] * kWinogradG[px][2];
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
