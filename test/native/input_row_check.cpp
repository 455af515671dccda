// Checks that inputRowAvx512 (native/cpu/input_row_avx512.cpp) writes the same bytes as the
// scalar reference inputRowScalar (native/cpu/conv_scalar.cpp), on random rows: random pixels (3 and
// 4 channels), blended coarse rows and retouch tables, and every row length from 1 to 40 plus long
// ones, so that the 8-pixel groups and the scalar tail both run. Prints one JSON line.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "cpu/conv_kernels.h"

using namespace flwnet;
using namespace flwnet::cpu;

namespace {

struct Row {
  std::vector<uint8_t> pixels;
  std::vector<double> top, bottom;  // per pixel
  std::vector<float> retouch;
};

Row randomRow(std::mt19937& rng, int count, int channels) {
  Row row;
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  row.pixels.resize(static_cast<size_t>(count) * channels);
  for (auto& p : row.pixels) p = static_cast<uint8_t>(byte(rng));
  for (int i = 0; i < count; ++i) row.top.push_back(unit(rng)), row.bottom.push_back(unit(rng));
  for (int i = 0; i < 256; ++i) row.retouch.push_back(static_cast<float>(unit(rng)));
  return row;
}

bool sameOutput(Row& row, int count, int channels, double ty) {
  std::vector<float> in0[2], xr[2];
  for (int k = 0; k < 2; ++k) {
    in0[k].assign(static_cast<size_t>(count) * 4, -1.0f);
    xr[k].assign(static_cast<size_t>(count) * 4, -1.0f);
    InputRowArgs args{};
    args.pixels = row.pixels.data();
    args.channels = channels;
    args.count = count;
    args.top = row.top.data();
    args.bottom = row.bottom.data();
    args.ty = ty;
    args.retouch = row.retouch.data();
    args.in0 = in0[k].data();
    args.xr = xr[k].data();
    (k == 0 ? inputRowScalar : inputRowAvx512)(args);
  }
  const size_t bytes = in0[0].size() * sizeof(float);
  return std::memcmp(in0[0].data(), in0[1].data(), bytes) == 0 && std::memcmp(xr[0].data(), xr[1].data(), bytes) == 0;
}

}  // namespace

int main() {
  std::mt19937 rng(12345);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  long rows = 0, pixels = 0, mismatches = 0;
  std::vector<int> counts;
  for (int n = 1; n <= 40; ++n) counts.push_back(n);
  for (int n : {337, 1024, 1921}) counts.push_back(n);
  for (int channels : {3, 4}) {
    for (int count : counts) {
      for (int repeat = 0; repeat < 8; ++repeat) {
        Row row = randomRow(rng, count, channels);
        if (!sameOutput(row, count, channels, unit(rng))) ++mismatches;
        ++rows;
        pixels += count;
      }
    }
  }
  std::printf("{\"rows\": %ld, \"pixels\": %ld, \"mismatches\": %ld}\n", rows, pixels, mismatches);
  return 0;
}
