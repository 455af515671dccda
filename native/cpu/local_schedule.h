// The CPU engine's wiring of the local branch (docs/numerics.md §6), derived from the network
// graph: each tensor has its own ring of rows (tile_pipeline.cpp), the derived inputs share two
// rings in the order e1 and e3 concatenate them, and a layer reads its inputs as consecutive
// "sources" (one per ring), each convolved with its own slice of the packed weights
// (packed_network.cpp). checkScheduleAgainstGraph runs on this table when a CPU backend is made.
#pragma once
#include <array>

#include "core/network_schedule.h"

namespace flwnet::cpu {

// Rings: 0 = e1's input [x - Vc/2, Vc/2], 1 = [x, r] (the end of e3's input), 2..7 = x1..x6.
constexpr int kRingCount = 8;
constexpr std::array<int, kRingCount> kRingChannels = {4, 4, 16, 16, 16, 16, 16, 16};

constexpr BufferSlice ringPlacement(Tensor t) {
  switch (t) {
    case Tensor::ImageMinusHalfCoarse: return {0, 0};
    case Tensor::HalfCoarse: return {0, 3};
    case Tensor::Image: return {1, 0};
    case Tensor::Retouched: return {1, 3};
    case Tensor::X7: return {kOutputBuffer, 0};  // e7 writes the output row
    default: return {static_cast<int>(t) - static_cast<int>(Tensor::X1) + 2, 0};
  }
}

constexpr LocalSchedule kCpuSchedule = scheduleFromPlacement(ringPlacement);

// A layer's inputs grouped into sources: consecutive inputs in one ring form one source, which
// must be the whole ring in channel order (the kernels read a ring row as one block).
constexpr int kMaxSources = 2;
struct LayerSource {
  int ring;
  int channels;
};
struct LayerSources {
  int count;
  std::array<LayerSource, kMaxSources> sources;
};

constexpr LayerSources layerSources(int layer) {
  LayerSources out{};
  const ScheduledLayer& s = kCpuSchedule[layer];
  for (int i = 0; i < s.inputCount; ++i) {
    const BufferSlice at = s.inputs[i].at;
    if (out.count == 0 || out.sources[out.count - 1].ring != at.buffer) {
      if (out.count == kMaxSources) return LayerSources{-1, {}};
      out.sources[out.count++] = LayerSource{at.buffer, 0};
    }
    LayerSource& source = out.sources[out.count - 1];
    if (at.channelOffset != source.channels) return LayerSources{-1, {}};
    source.channels += tensorChannels(s.inputs[i].tensor);
  }
  return out;
}

constexpr bool sourcesCoverTheirRings() {
  for (int l = 0; l < static_cast<int>(kCpuSchedule.size()); ++l) {
    const LayerSources sources = layerSources(l);
    if (sources.count < 1) return false;
    for (int k = 0; k < sources.count; ++k) {
      if (sources.sources[k].channels != kRingChannels[sources.sources[k].ring]) return false;
    }
  }
  return true;
}
static_assert(sourcesCoverTheirRings(), "each CPU layer must read whole rings, at most two per layer");

}  // namespace flwnet::cpu
