#include "network_schedule.h"

#include <string>

#include "error.h"

namespace flwnet {
namespace {

std::string where(const char* backend, size_t layer) {
  return std::string(backend) + " schedule, " + kLocalGraph[layer].name + ": ";
}

[[noreturn]] void disagree(const char* backend, size_t layer, const std::string& what) {
  throw Error(ErrorCode::Internal, where(backend, layer) + what + " (the network graph is in native/core/network_graph.h)");
}

bool overlaps(const BufferSlice& a, int aChannels, const BufferSlice& b, int bChannels) {
  return a.buffer == b.buffer && a.channelOffset < b.channelOffset + bChannels &&
         b.channelOffset < a.channelOffset + aChannels;
}

// The layer's inputs, dilation and activation are the graph's.
void checkLayerShape(const char* backend, size_t l, const ScheduledLayer& s) {
  const ConvLayer& layer = kLocalGraph[l];
  if (s.inputCount != layer.inputCount) {
    disagree(backend, l, "reads " + std::to_string(s.inputCount) + " inputs, the graph " + std::to_string(layer.inputCount));
  }
  for (int i = 0; i < s.inputCount; ++i) {
    if (s.inputs[i].tensor != layer.inputs[i]) {
      disagree(backend, l, "input " + std::to_string(i) + " is " + tensorName(s.inputs[i].tensor) + ", the graph's is " +
                               tensorName(layer.inputs[i]));
    }
  }
  if (s.dilation != layer.dilation) {
    disagree(backend, l, "dilation " + std::to_string(s.dilation) + ", the graph's is " + std::to_string(layer.dilation));
  }
  if (s.activation != layer.activation) disagree(backend, l, "activation differs from the graph's");
}

void checkWithinBuffer(const char* backend, size_t l, Tensor t, const BufferSlice& at, const int* bufferChannels,
                       size_t bufferCount) {
  if (at.buffer == kOutputBuffer) {
    if (t != kLocalGraph.back().output) disagree(backend, l, std::string(tensorName(t)) + " placed in the output image");
    return;
  }
  if (at.buffer < 0 || static_cast<size_t>(at.buffer) >= bufferCount || at.channelOffset < 0 ||
      at.channelOffset + tensorChannels(t) > bufferChannels[at.buffer]) {
    disagree(backend, l, std::string(tensorName(t)) + " lies outside buffer " + std::to_string(at.buffer));
  }
}

}  // namespace

const char* tensorName(Tensor tensor) {
  static const char* const names[kTensorCount] = {"x - Vc/2", "Vc/2", "x", "r", "x1", "x2", "x3", "x4", "x5", "x6", "x7"};
  const int i = static_cast<int>(tensor);
  return i >= 0 && i < kTensorCount ? names[i] : "?";
}

void checkScheduleAgainstGraph(const char* backend, const LocalSchedule& schedule, const int* bufferChannels,
                               size_t bufferCount) {
  // Where each tensor is: [0] where it was written (or first read, for the derived inputs, which
  // are all staged before e1 runs), [1] its copy.
  std::array<std::array<BufferSlice, 2>, kTensorCount> placed;
  for (auto& p : placed) p.fill(BufferSlice{kNoBuffer, 0});
  for (const ScheduledLayer& s : schedule) {
    for (int i = 0; i < s.inputCount && i < kMaxLayerInputs; ++i) {
      const int t = static_cast<int>(s.inputs[i].tensor);
      if (t >= 0 && t < static_cast<int>(Tensor::X1) && placed[t][0].buffer == kNoBuffer) placed[t][0] = s.inputs[i].at;
    }
  }
  auto same = [](const BufferSlice& a, const BufferSlice& b) {
    return a.buffer == b.buffer && a.channelOffset == b.channelOffset;
  };
  for (size_t l = 0; l < schedule.size(); ++l) {
    const ScheduledLayer& s = schedule[l];
    checkLayerShape(backend, l, s);
    for (int i = 0; i < s.inputCount; ++i) {
      const ScheduledInput& in = s.inputs[i];
      const auto& known = placed[static_cast<int>(in.tensor)];
      checkWithinBuffer(backend, l, in.tensor, in.at, bufferChannels, bufferCount);
      if (!same(known[0], in.at) && !same(known[1], in.at)) {
        disagree(backend, l, std::string("reads ") + tensorName(in.tensor) + " from buffer " + std::to_string(in.at.buffer) +
                                 " channel " + std::to_string(in.at.channelOffset) + ", where it was not put");
      }
    }
    const Tensor out = kLocalGraph[l].output;
    const bool hasCopy = s.copy.buffer != kNoBuffer;
    checkWithinBuffer(backend, l, out, s.output, bufferChannels, bufferCount);
    if (hasCopy) checkWithinBuffer(backend, l, out, s.copy, bufferChannels, bufferCount);
    // Every earlier tensor a later layer reads must survive this write.
    for (size_t later = l + 1; later < schedule.size(); ++later) {
      for (int i = 0; i < schedule[later].inputCount && i < kMaxLayerInputs; ++i) {
        const ScheduledInput& in = schedule[later].inputs[i];
        if (static_cast<int>(in.tensor) >= static_cast<int>(out)) continue;
        const int width = tensorChannels(in.tensor);
        if (overlaps(s.output, tensorChannels(out), in.at, width) ||
            (hasCopy && overlaps(s.copy, tensorChannels(out), in.at, width))) {
          disagree(backend, l, std::string("writes ") + tensorName(out) + " over " + tensorName(in.tensor) + ", which " +
                                   kLocalGraph[later].name + " still reads");
        }
      }
    }
    placed[static_cast<int>(out)] = {s.output, hasCopy ? s.copy : BufferSlice{kNoBuffer, 0}};
  }
}

}  // namespace flwnet
