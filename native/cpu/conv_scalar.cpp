#include "conv_kernels.h"
#include "output_row.h"

namespace flwnet::cpu {

// Sums in the same order as the vector kernels (bias, then sources, ky, kx, ci), one pixel at a time.
void convRowScalar(const ConvRowArgs& args) {
  for (int x = 0; x < args.count; ++x) {
    float acc[kLanes];
    for (int co = 0; co < kLanes; ++co) acc[co] = args.bias[co];
    const float* w = args.weights;
    for (int s = 0; s < args.sourceCount; ++s) {
      const ConvSource& src = args.sources[s];
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) {
          const float* in = src.rows[ky] + static_cast<long>(x + (kx - 1) * args.dilation) * src.channels;
          for (int ci = 0; ci < src.channels; ++ci, w += kLanes) {
            const float v = in[ci];
            for (int co = 0; co < args.outputLanes; ++co) acc[co] += v * w[co];
          }
        }
      }
    }
    float* out = args.out + static_cast<long>(x) * kLanes;
    for (int co = 0; co < args.outputLanes; ++co) {
      const float a = acc[co];
      out[co] = (args.leaky && !(a > 0.0f)) ? a * 0.01f : a;
    }
  }
}

void finishRowScalar(const FinishRowArgs& args) { output_row::finishRow(args); }

}  // namespace flwnet::cpu
