// A backend's wiring of the local branch, stated as data: for each layer, where (buffer and
// channel offset) it reads each input of its concatenation and where it writes its output. Each
// backend keeps such a table next to the code it describes, derives what it can from it, and has
// it checked against kLocalGraph (network_graph.h) when the backend is created, so a schedule that
// disagrees with the graph fails loudly instead of enhancing images wrongly.
#pragma once
#include <array>
#include <cstddef>

#include "network_graph.h"

namespace flwnet {

// Where a tensor lives in a backend's storage. `buffer` indexes the backend's own list of buffers
// (rings of rows, shared-memory frames, device tensors); kOutputBuffer is the output image.
struct BufferSlice {
  int buffer;
  int channelOffset;
};
constexpr int kOutputBuffer = -1;
constexpr int kNoBuffer = -2;  // ScheduledLayer::copy when the output is written once

struct ScheduledInput {
  Tensor tensor;
  BufferSlice at;
};

struct ScheduledLayer {
  std::array<ScheduledInput, kMaxLayerInputs> inputs;
  int inputCount;
  int dilation;
  Activation activation;
  BufferSlice output;
  BufferSlice copy = {kNoBuffer, 0};  // a second place the output is written (e.g. into a concatenation)
};

using LocalSchedule = std::array<ScheduledLayer, kLocalGraph.size()>;

// The schedule that keeps each tensor at `placement(tensor)` and reads the graph's inputs in the
// graph's order: for backends whose storage is fixed per tensor (no buffer is reused).
template <typename Placement>
constexpr LocalSchedule scheduleFromPlacement(Placement placement) {
  LocalSchedule schedule{};
  for (size_t l = 0; l < kLocalGraph.size(); ++l) {
    const ConvLayer& layer = kLocalGraph[l];
    ScheduledLayer& s = schedule[l];
    s.inputCount = layer.inputCount;
    for (int i = 0; i < layer.inputCount; ++i) s.inputs[i] = ScheduledInput{layer.inputs[i], placement(layer.inputs[i])};
    s.dilation = layer.dilation;
    s.activation = layer.activation;
    s.output = placement(layer.output);
  }
  return schedule;
}

// Throws ErrorCode::Internal, naming `backend`, the layer and the disagreement, unless
//  - every layer reads exactly the graph's inputs, in the graph's order, with its dilation and
//    activation;
//  - every input is read where it was written (X1..X6 where their layer put them, or its copy;
//    each derived input always from the same place), within its buffer's width;
//  - no layer's output overwrites a tensor a later layer still reads from there.
// `bufferChannels[b]` is the channel width of buffer b (a layer's output is written in its
// tensor's channel count, e7 to kOutputBuffer).
void checkScheduleAgainstGraph(const char* backend, const LocalSchedule& schedule, const int* bufferChannels,
                               size_t bufferCount);

const char* tensorName(Tensor tensor);

}  // namespace flwnet
