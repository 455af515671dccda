// One output row of a 3x3 convolution, the inner loop of the CPU engine. Each instruction set
// (conv_scalar.cpp, conv_avx2.cpp, conv_avx512.cpp) implements the same contract; the scalar one
// is the reference the vector ones are checked against.
#pragma once

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
  int outputLanes;       // 16, or 8 when only the first 8 output channels are wanted (e7)
  bool leaky;            // LeakyReLU(0.01) after the sum
};

using ConvRowKernel = void (*)(const ConvRowArgs& args);

void convRowScalar(const ConvRowArgs& args);
void convRowAvx2(const ConvRowArgs& args);
void convRowAvx512(const ConvRowArgs& args);

}  // namespace flwnet::cpu
