// One output row of a 3x3 convolution, the inner loop of the CPU engine. Each instruction set
// (conv_scalar.cpp, conv_avx2.cpp, conv_avx512.cpp) implements the same contract; the scalar one
// is the reference the vector ones are checked against.
#pragma once
#include <cstdint>

#include "core/image.h"

namespace flwnet::cpu {

constexpr int kLanes = 16;  // output channels per pixel as the kernels store them (e7's 6 are padded)

// One input tensor of a (possibly concatenated) convolution input: three rows, channel-interleaved.
struct ConvSource {
  const float* rows[3];  // rows y - d, y, y + d, each pointing at the pixel of output column 0
  int channels;          // pixel stride in floats
};

struct ConvRowArgs {
  ConvSource sources[2];
  int sourceCount;
  int dilation;
  const float* weights;  // packed per source, then [ky][kx][ci][kLanes]
  const float* bias;     // kLanes values
  float* out;            // count pixels x kLanes floats
  int count;
  int outputLanes;       // 16, or 8 when only the first 8 output channels are wanted (e7),
                         // or kNarrowOutputs for the narrow kernels
  bool leaky;            // LeakyReLU(0.01) after the sum
};

using ConvRowKernel = void (*)(const ConvRowArgs& args);

// The end of a row (output_row.h): softplus of channels 0..2 of e7's output, then the format.
struct FinishRowArgs {
  const float* net;      // count pixels x kLanes floats from e7
  int count;
  int channels;          // of the input and the output: 3, or 4 with alpha copied through
  const uint8_t* input;  // the row's first input pixel (alpha source)
  OutputKind kind;
  void* output;          // the row's first output pixel
};

using FinishRowKernel = void (*)(const FinishRowArgs& args);

void finishRowScalar(const FinishRowArgs& args);
void finishRowAvx2(const FinishRowArgs& args);
void finishRowAvx512(const FinishRowArgs& args);

// The start of a row (input_rows.h): e1's input [x - Vc/2, Vc/2] and e3's [x, r], 4 floats per
// pixel each, from `count` image pixels. Vc and x - Vc/2 are computed in double with separate
// multiplies and adds (no fused multiply-add), so every instruction set gives the same bits.
struct InputRowArgs {
  const uint8_t* pixels;  // the row's first pixel
  int channels;           // 3 or 4 (alpha is not read)
  int count;
  // Vc = (1 - ty) top + ty bottom, from the two coarse cell rows blended along x for each pixel
  // (CoarseBrightness::Row::blend), as CoarseBrightness::Row::between computes it.
  const double* top;
  const double* bottom;
  double ty;
  const float* retouch;  // r for each V level
  float* in0;
  float* xr;
};

using InputRowKernel = void (*)(const InputRowArgs& args);

void inputRowScalar(const InputRowArgs& args);
void inputRowAvx512(const InputRowArgs& args);

// The kernels one instruction set offers: direct for every layer, a Winograd row kernel
// (winograd.h) for e1..e6 and the narrow kernel for e7 where that instruction set has them
// (nullptr otherwise: the scalar reference runs everything direct), the row end and the row start.
struct ConvKernels {
  ConvRowKernel direct;
  ConvRowKernel winograd;
  ConvRowKernel narrow;
  FinishRowKernel finish;
  InputRowKernel input;
};

void convRowScalar(const ConvRowArgs& args);
void convRowAvx2(const ConvRowArgs& args);
void convRowAvx512(const ConvRowArgs& args);

// e7 for the output only needs its first kNarrowOutputs channels (the enhanced image; channels
// 3..5 are not part of the output). Too few to fill vector lanes, so this kernel vectorises over
// each kernel row's 48 inputs instead (3 pixels x 16 channels, contiguous in a row) and sums the
// lanes at the end. One source of 16 channels, dilation 1, no activation; weights in the
// output-major layout [co][ky][kx][ci] (PackedConv::outputMajor); writes lanes 0..2 of each pixel.
constexpr int kNarrowOutputs = 3;
void convRowNarrowAvx2(const ConvRowArgs& args);
void convRowNarrowAvx512(const ConvRowArgs& args);

}  // namespace flwnet::cpu
