// The cuDNN backend's wiring of the local branch (cudnn_backend.cpp, runLocalBranch): each layer
// reads one device tensor, and the concatenations [x2, x, r] and [x3, x5] are built in place by
// writing the activations into channel slices. Plain C++ so every build checks it; the backend
// checks it against the graph when it is created.
#pragma once
#include <array>

#include "core/network_schedule.h"

namespace flwnet::cudnn {

// Buffers of one band (BandTensors), with their channel counts in exact mode (fast mode pads them
// to multiples of 8 after the same offsets).
enum BandBuffer { kE1Input, kE3Input, kE6Input, kHiddenA, kHiddenB, kBandBufferCount };
constexpr std::array<int, kBandBufferCount> kBandBufferChannels = {4, 20, 32, 16, 16};

constexpr LocalSchedule kCudnnSchedule = {{
    {{{{Tensor::ImageMinusHalfCoarse, {kE1Input, 0}}, {Tensor::HalfCoarse, {kE1Input, 3}}, {}}}, 2,
     kLocalGraph[0].dilation, Activation::LeakyRelu, {kHiddenA, 0}},
    {{{{Tensor::X1, {kHiddenA, 0}}, {}, {}}}, 1, kLocalGraph[1].dilation, Activation::LeakyRelu, {kE3Input, 0}},
    {{{{Tensor::X2, {kE3Input, 0}}, {Tensor::Image, {kE3Input, 16}}, {Tensor::Retouched, {kE3Input, 19}}}}, 3,
     kLocalGraph[2].dilation, Activation::LeakyRelu, {kHiddenA, 0}, {kE6Input, 0}},
    {{{{Tensor::X3, {kHiddenA, 0}}, {}, {}}}, 1, kLocalGraph[3].dilation, Activation::LeakyRelu, {kHiddenB, 0}},
    {{{{Tensor::X4, {kHiddenB, 0}}, {}, {}}}, 1, kLocalGraph[4].dilation, Activation::LeakyRelu, {kE6Input, 16}},
    {{{{Tensor::X3, {kE6Input, 0}}, {Tensor::X5, {kE6Input, 16}}, {}}}, 2, kLocalGraph[5].dilation,
     Activation::LeakyRelu, {kHiddenA, 0}},
    {{{{Tensor::X6, {kHiddenA, 0}}, {}, {}}}, 1, kLocalGraph[6].dilation, Activation::Softplus, {kOutputBuffer, 0}},
}};

}  // namespace flwnet::cudnn
