#include "winograd.h"

#include "core/error.h"

namespace flwnet::cpu {

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
            const double u = kWinogradG[t][0] * g[0] + kWinogradG[t][1] * g[1] + kWinogradG[t][2] * g[2];
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
