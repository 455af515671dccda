// The fused kernels' wiring of the local branch, next to the kernels it describes (plain C++, no
// CUDA types, so it is checked in every build): the CUDA backend checks the schedule of the kernel
// it runs against the graph when it is created, and the kernels take their dilations from the graph.
#pragma once
#include <array>

#include "core/network_schedule.h"

namespace flwnet::cuda {

// local_exact.cu (fp32, 16x16 tiles) and local_fast.cu (fp16): three 16-channel frames in shared
// memory. Staging holds e1's input in channels 0..3 and e3's [x, r] in 4..7, and later x5; frame A
// holds x1, then x3; frame B x2, x4, then x6.
enum FrameBuffer { kStagingFrame, kFrameA, kFrameB, kFrameCount };
constexpr std::array<int, kFrameCount> kFrameChannels = {16, 16, 16};

constexpr LocalSchedule kFrameSchedule = {{
    {{{{Tensor::ImageMinusHalfCoarse, {kStagingFrame, 0}}, {Tensor::HalfCoarse, {kStagingFrame, 3}}, {}}}, 2,
     kLocalGraph[0].dilation, Activation::LeakyRelu, {kFrameA, 0}},
    {{{{Tensor::X1, {kFrameA, 0}}, {}, {}}}, 1, kLocalGraph[1].dilation, Activation::LeakyRelu, {kFrameB, 0}},
    {{{{Tensor::X2, {kFrameB, 0}}, {Tensor::Image, {kStagingFrame, 4}}, {Tensor::Retouched, {kStagingFrame, 7}}}}, 3,
     kLocalGraph[2].dilation, Activation::LeakyRelu, {kFrameA, 0}},
    {{{{Tensor::X3, {kFrameA, 0}}, {}, {}}}, 1, kLocalGraph[3].dilation, Activation::LeakyRelu, {kFrameB, 0}},
    {{{{Tensor::X4, {kFrameB, 0}}, {}, {}}}, 1, kLocalGraph[4].dilation, Activation::LeakyRelu, {kStagingFrame, 0}},
    {{{{Tensor::X3, {kFrameA, 0}}, {Tensor::X5, {kStagingFrame, 0}}, {}}}, 2, kLocalGraph[5].dilation,
     Activation::LeakyRelu, {kFrameB, 0}},
    {{{{Tensor::X6, {kFrameB, 0}}, {}, {}}}, 1, kLocalGraph[6].dilation, Activation::Softplus, {kOutputBuffer, 0}},
}};

// local_exact_stream.cu: one ring of rows per layer; ring 0 (staging) holds e1's input in its first
// 4-channel plane and e3's [x, r] in its second, ring k (1..6) holds xk.
constexpr int kStreamRingCount = 7;
constexpr std::array<int, kStreamRingCount> kStreamRingChannels = {8, 16, 16, 16, 16, 16, 16};
constexpr BufferSlice streamRingPlacement(Tensor t) {
  switch (t) {
    case Tensor::ImageMinusHalfCoarse: return {0, 0};
    case Tensor::HalfCoarse: return {0, 3};
    case Tensor::Image: return {0, 4};
    case Tensor::Retouched: return {0, 7};
    case Tensor::X7: return {kOutputBuffer, 0};
    default: return {static_cast<int>(t) - static_cast<int>(Tensor::X1) + 1, 0};
  }
}
constexpr LocalSchedule kStreamSchedule = scheduleFromPlacement(streamRingPlacement);

// Dilation of layer `Layer` (0 = e1) for device code: a scalar constant taken from the graph.
template <int Layer>
inline constexpr int kDilationOf = kLocalGraph[Layer].dilation;

// Throws Internal unless the three fused kernels' schedules agree with the graph.
inline void checkFusedSchedules() {
  checkScheduleAgainstGraph("CUDA fused (frames)", kFrameSchedule, kFrameChannels.data(), kFrameChannels.size());
  checkScheduleAgainstGraph("CUDA fused (stream)", kStreamSchedule, kStreamRingChannels.data(), kStreamRingChannels.size());
}

}  // namespace flwnet::cuda
