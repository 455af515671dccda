// The training convolution kernels' interface: plain argument structs (a CUDA twin can take the
// same) and a table of function pointers chosen once per processor (scalar, AVX2, AVX-512).
#pragma once
#include <cstddef>

#include "core/engine_settings.h"

namespace flwnet::train {

constexpr int kTrainPad = 2;        // zero border of every tensor: the largest dilation
constexpr int kTrainLanes = 16;     // channels per pixel of the hidden tensors (and padded e7)

// One input of a layer at the first pixel of an output row.
struct ConvRowInput {
  const float* row;         // the input tensor at (x = 0, y) of the output row
  int channels;             // channels per pixel of this input
  const ptrdiff_t* offsets; // 9 tap offsets in floats (dilation and row stride applied)
  const float* weights;     // [tap][channels][16]
};

struct ConvRowArgs {
  const ConvRowInput* inputs;
  int inputCount;
  const float* bias;  // 16 (zero past cout)
  bool leaky;
  float leakySlope;
  int width;
  float* out;         // 16 channels per pixel, row of `width` pixels
};

struct InputGradRowArgs {
  const float* dz;          // the layer's output gradient (16 channels) at (0, y)
  int dzChannels;           // channels of dz that can be non-zero (the first ones)
  const ptrdiff_t* offsets; // 9 negated tap offsets in floats, in dz's layout
  const float* weights;     // [tap][16 outputs][16 inputs]
  int width;
  bool accumulate;          // add to `out` instead of overwriting it
  const float* act;         // when set: the input's LeakyReLU output at (0, y); the sum is then
                            // multiplied by the activation's derivative (the last term of dX)
  float leakySlope;
  float* out;               // the input's gradient (16 channels) at (0, y)
};

struct WeightGradArgs {
  const float* src;         // the input tensor at (0, y0)
  int channels;
  ptrdiff_t srcRowStride;   // floats
  const ptrdiff_t* offsets; // 9 tap offsets in src's layout
  const float* dz;          // output gradient at (0, y0)
  ptrdiff_t dzRowStride;
  int width;
  int rows;
  float* grad;              // [tap][channels][16], accumulated into
};

struct TrainKernels {
  void (*convForwardRow)(const ConvRowArgs&);
  void (*convInputGradRow)(const InputGradRowArgs&);
  void (*convWeightGrad)(const WeightGradArgs&);
};

// The best kernels for this processor (FLWNET_CPU_ISA forces a choice, as for inference).
// The kernels for `setting` (Auto: the best the processor runs; a forced set it lacks is InvalidArgument).
const TrainKernels& chooseTrainKernels(CpuIsaSetting setting);

}  // namespace flwnet::train
