#include <algorithm>

#include "conv_kernels.h"
#include "output_row.h"

namespace flwnet::cpu {
namespace {

// value / 255.0 for every byte value: the same doubles as the division, without three double
// divisions per pixel.
struct ByteScale {
  double value[256];
  ByteScale() {
    for (int i = 0; i < 256; ++i) value[i] = i / 255.0;
  }
};

}  // namespace

// The reference for every instruction set: one pixel at a time, in double.
void inputRowScalar(const InputRowArgs& args) {
  static const ByteScale scale;
  const uint8_t* px = args.pixels;
  float* in0 = args.in0;
  float* xr = args.xr;
  for (int i = 0; i < args.count; ++i, px += args.channels, in0 += 4, xr += 4) {
    const double half = 0.5 * ((1.0 - args.ty) * args.top[i] + args.ty * args.bottom[i]);
    for (int k = 0; k < 3; ++k) {
      const double x = scale.value[px[k]];
      in0[k] = static_cast<float>(x - half);
      xr[k] = static_cast<float>(x);
    }
    in0[3] = static_cast<float>(half);
    xr[3] = args.retouch[std::max(px[0], std::max(px[1], px[2]))];
  }
}

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
