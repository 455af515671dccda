// Device functions shared by the exact and fast local-branch kernels: which image a block works on,
// the per-pixel network inputs (docs/numerics.md §4-§6) and the final write.
#pragma once
#include <cuda_runtime.h>

#include "cuda/fused/local_fused.cuh"

namespace flwnet::cuda::local {

constexpr int kHalo = 9;  // receptive field of e1..e7 (1+1+1+2+2+1+1)

// Halo (distance from the frame edge) at which each layer's output is valid, for a frame of
// tile + 2 * kHalo pixels a side: e1 writes x1 valid from 1 in, e2 from 2, ... e7 from 9.
constexpr int kValidFrom[8] = {0, 1, 2, 3, 5, 7, 8, 9};

// Where a block's tile lies: the image, and the tile's output origin in image coordinates.
struct TileSite {
  int image;
  int x0;
  int y0;
};

__device__ inline TileSite locateTile(const LocalParams& p, int tileRows, int tileCols) {
  const int tile = blockIdx.x;
  int b = 0;
  while (b + 1 < p.batch.count && tile >= p.images[b + 1].firstTile) ++b;
  const int local = tile - p.images[b].firstTile;
  const LocalImage& li = p.images[b];
  return TileSite{b, (local % li.tilesX) * tileCols, li.bandBegin + (local / li.tilesX) * tileRows};
}

// Bilinear tap with half-pixel centres (docs/numerics.md §5), in double as the CPU twin does.
struct Tap {
  int i0;
  int i1;
  float t;
};
__device__ inline Tap upsampleTap(int d, int cells) {
  double c = (d + 0.5) * (1.0 / kCoarseScale) - 0.5;
  c = c > 0.0 ? c : 0.0;
  int i0 = static_cast<int>(floor(c));
  i0 = i0 < cells - 1 ? i0 : cells - 1;
  const int i1 = i0 + 1 < cells - 1 ? i0 + 1 : cells - 1;
  const double t = i0 == cells - 1 ? 0.0 : c - i0;
  return Tap{i0, i1, static_cast<float>(t)};
}

// The network's per-pixel inputs at an image pixel: e1's [x - Vc/2, Vc/2] and e3's [x, r].
struct PixelInputs {
  float e1[4];
  float e3[4];
};

__device__ inline PixelInputs pixelInputs(const DeviceImage& img, const LocalImage& li, int gx, int gy) {
  const uint8_t* px = img.pixels + (static_cast<size_t>(gy) * img.width + gx) * img.channels;
  const uint8_t r8 = px[0], g8 = px[1], b8 = px[2];
  const int level = max(max(r8, g8), b8);
  const Tap ty = upsampleTap(gy, li.cellsY);
  const Tap tx = upsampleTap(gx, li.cellsX);
  const float* row0 = li.coarse + ty.i0 * li.cellsX;
  const float* row1 = li.coarse + ty.i1 * li.cellsX;
  const float top = (1.0f - tx.t) * row0[tx.i0] + tx.t * row0[tx.i1];
  const float bottom = (1.0f - tx.t) * row1[tx.i0] + tx.t * row1[tx.i1];
  const float halfVc = 0.5f * ((1.0f - ty.t) * top + ty.t * bottom);
  const float x[3] = {r8 / 255.0f, g8 / 255.0f, b8 / 255.0f};
  PixelInputs in;
  for (int c = 0; c < 3; ++c) {
    in.e1[c] = x[c] - halfVc;
    in.e3[c] = x[c];
  }
  in.e1[3] = halfVc;
  in.e3[3] = li.retouch[level];
  return in;
}

__device__ inline bool insideImage(const DeviceImage& img, int gx, int gy) {
  return gx >= 0 && gy >= 0 && gx < img.width && gy < img.height;
}

__device__ inline float leakyRelu(float v) { return v > 0.0f ? v : kLeakySlope * v; }

__device__ inline float softplus(float v) { return v > 20.0f ? v : log1pf(expf(v)); }

// Writes one enhanced pixel (e7 channels 0..2 after softplus) in the caller's format; alpha, when
// present, is copied from the input (as value / 255 for float output).
__device__ inline void writeOutputPixel(const LocalParams& p, int b, int gx, int gy, const float y[3]) {
  const DeviceImage& img = p.batch.image[b];
  const LocalImage& li = p.images[b];
  const size_t index = (static_cast<size_t>(gy - li.bandBegin) * img.width + gx) * img.channels;
  const uint8_t* in = img.pixels + (static_cast<size_t>(gy) * img.width + gx) * img.channels;
  if (p.floatOutput) {
    float* out = static_cast<float*>(li.output) + index;
    for (int c = 0; c < 3; ++c) out[c] = y[c];
    if (img.channels == 4) out[3] = in[3] / 255.0f;
  } else {
    uint8_t* out = static_cast<uint8_t*>(li.output) + index;
    for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(floorf(fminf(fmaxf(y[c] * 255.0f + 0.5f, 0.0f), 255.0f)));
    if (img.channels == 4) out[3] = in[3];
  }
}

}  // namespace flwnet::cuda::local
