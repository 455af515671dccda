// The two ends of a tile row shared by both CPU schedules (tile_pipeline.h, block_pipeline.h):
// the inputs e1 and e3 read, made from the image row, and e7 with the enhanced row written out.
#pragma once
#include <algorithm>
#include <cstddef>

#include "conv_kernels.h"
#include "row_rings.h"
#include "tile_pipeline.h"

namespace flwnet::cpu {

// Columns [c0, c1) of row y: in0 = [x - Vc/2, Vc/2] and xr = [x, r], 4 floats per pixel each.
inline void prepareInputRow(const LocalRequest& request, const ConvKernels& kernels, CoarseRowBlends& blends, int y,
                            int c0, int c1, float* in0, float* xr) {
  const ImageU8& image = request.image;
  const CoarseBrightness::Row row = request.coarse->row(y);
  blends.prepare(row, c0, c1);
  InputRowArgs args{};
  args.pixels = image.data + (static_cast<size_t>(y) * image.width + c0) * image.channels;
  args.channels = image.channels;
  args.count = c1 - c0;
  args.top = blends.top();
  args.bottom = blends.bottom();
  args.ty = row.ty;
  args.retouch = request.retouch.data();
  args.in0 = in0;
  args.xr = xr;
  kernels.input(args);
}

// Writes `count` pixels of row y from column x0 in the request's format, from e7's output `net`.
inline void finishOutputRow(const LocalRequest& request, const ConvKernels& kernels, int y, int x0, int count,
                            const float* net) {
  const ImageU8& image = request.image;
  const size_t first = (static_cast<size_t>(y) * image.width + x0) * image.channels;
  FinishRowArgs finish{};
  finish.net = net;
  finish.count = count;
  finish.channels = image.channels;
  finish.input = image.data + first;
  finish.kind = request.outputKind;
  if (request.outputKind == OutputKind::U8) {
    finish.output = static_cast<uint8_t*>(request.output) + first;
  } else {
    finish.output = static_cast<float*>(request.output) + first;
  }
  kernels.finish(finish);
}

// Row y of e7 over the tile's columns [x0, x1) from e6's rows y - 1 .. y + 1 in ring 7 (whose
// pixel 0 is image column colBase), then the enhanced row written out; outRow holds
// (x1 - x0) * kLanes floats.
inline void computeOutputRow(const PackedNetwork& net, const ConvKernels& kernels, const LocalRequest& request, int y,
                             const RowRings<8>& rings, const char* overrunMessage, int x0, int x1, int colBase,
                             float* outRow) {
  const PackedConv& layer = net.layers[kConvLayers - 1];
  ConvRowArgs args{};
  args.sourceCount = 1;
  args.dilation = layer.dilation;
  args.sources[0].channels = kLanes;
  for (int ky = 0; ky < 3; ++ky) {
    const float* row = rings.rowOf(7, y + ky - 1, request.image.height, overrunMessage);
    args.sources[0].rows[ky] = row + static_cast<size_t>(x0 - colBase) * kLanes;
  }
  args.bias = layer.bias.data();
  args.out = outRow;
  args.count = x1 - x0;
  args.leaky = false;
  if (kernels.narrow != nullptr) {
    args.weights = layer.outputMajor.data();
    args.outputLanes = kNarrowOutputs;
    kernels.narrow(args);
  } else {
    args.weights = layer.weights.data();
    args.outputLanes = 8;  // e7 has 6 outputs; its packed weights are zero beyond them
    kernels.direct(args);
  }
  finishOutputRow(request, kernels, y, x0, args.count, outRow);
}

}  // namespace flwnet::cpu
