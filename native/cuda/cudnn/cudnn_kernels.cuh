// The element-wise work around the cuDNN convolutions (docs/numerics.md §5-§6): the coarse brightness
// grid, the e1/e3 input preparation, bias + LeakyReLU with the channel concatenations, and
// softplus + output conversion. (The global branch, including the r table, is global_branch.cuh.) Each launcher takes
// a params struct and the stream to run on; all pointers are device pointers.
//
// Activations are dense tensors of n images x rows x width with a fixed channel count, stored
// NCHW (exact precision, float) or NHWC (fast precision, half). A work unit may be a horizontal
// band of the images: `rowStart` is the band's first row in image coordinates.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace flwnet::cudnn {

enum class Layout { NCHW, NHWC };
enum class Element { Float, Half };

// Where a kernel writes `count` channels: into channels [firstChannel, firstChannel + count) of a
// dense tensor that has `channels` channels in all (how concatenations are laid out without copies).
struct ChannelSlice {
  void* data = nullptr;
  int channels = 0;
  int firstChannel = 0;
};

// The images of one work unit: n uploaded uint8 images of height x width x channels, packed back
// to back.
struct ImagesU8 {
  const uint8_t* data = nullptr;
  int count = 0;
  int height = 0;
  int width = 0;
  int channels = 3;
};

// grid[i] (coarseHeight x coarseWidth values per image) = V down-sampled by 20, docs/numerics.md §5,
// kept in double like the CPU engine's cells so both up-sample the same numbers.
struct CoarseGridParams {
  ImagesU8 images;
  int coarseHeight = 0;
  int coarseWidth = 0;
  double* grid = nullptr;
};
void launchCoarseGrid(const CoarseGridParams& p, cudaStream_t stream);

// Writes e1's input [x - Vc/2, Vc/2] into e1Input (channels beyond 4 zeroed) and [x, r] into
// channels 16..19 of e3Input (channels beyond 20 zeroed) for the rows [rowStart, rowStart + rows).
struct PrepareParams {
  ImagesU8 images;
  int rowStart = 0;
  int rows = 0;
  const double* grid = nullptr;  // from launchCoarseGrid
  int coarseHeight = 0;
  int coarseWidth = 0;
  const float* retouch = nullptr;  // r per V level, 256 per image (the global branch's table)
  ChannelSlice e1Input;         // all of it (firstChannel 0)
  ChannelSlice e3Input;         // all of it; channels 0..15 belong to e2's output
  Layout layout = Layout::NCHW;
  Element element = Element::Float;
};
void launchPrepare(const PrepareParams& p, cudaStream_t stream);

// dst = LeakyReLU(src + bias) for the 16 hidden channels, written into one or two channel slices
// (a second one when the activation feeds two later layers, as x3 does). src is a dense 16-channel
// tensor; bias may be null when the convolution already added it.
struct BiasLeakyParams {
  const void* src = nullptr;
  const float* bias = nullptr;
  int count = 0;
  int rows = 0;
  int width = 0;
  ChannelSlice first;
  ChannelSlice second;  // data == nullptr: not used
  Layout layout = Layout::NCHW;
  Element element = Element::Float;
};
void launchBiasLeaky(const BiasLeakyParams& p, cudaStream_t stream);

// The network's output: softplus(src + bias) for channels 0..2 of e7's output (a dense tensor of
// srcChannels channels over `rows` rows), for the band rows [skipRows, skipRows + outRows), written
// interleaved as uint8 (docs/numerics.md §1 rounding) or float into `out` (count x outRows x width x
// images.channels, packed). Alpha (channel 3) comes from the input pixels of image row
// outRowStart + y: as is for uint8, divided by 255 for float.
struct FinishParams {
  const void* src = nullptr;
  int srcChannels = 0;
  const float* bias = nullptr;  // null when the convolution already added it
  int rows = 0;
  int skipRows = 0;
  int outRows = 0;
  int outRowStart = 0;
  ImagesU8 images;
  bool floatOutput = false;
  void* out = nullptr;
  Layout layout = Layout::NCHW;
  Element element = Element::Float;
};
void launchFinish(const FinishParams& p, cudaStream_t stream);

}  // namespace flwnet::cudnn
