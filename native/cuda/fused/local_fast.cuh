// Precision::Fast fused local-branch kernel (fp16 tensor cores, fp32 accumulation); see
// local_fast.cu for the design.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/fused/local_fused.cuh"

namespace flwnet::cuda::local {

constexpr int kFastTile = 28;  // output pixels per block side

// Weight blocks of the fast layout: each block is one tap's 16x16 fp16 matrix B[k = input
// channel][n = output channel], zero where a layer has fewer channels; nine blocks per group.
// Groups: e1 (k 0..3 = [x - Vc/2, Vc/2]), e2, e3 from x2, e3 from the staging frame (k 4..7 =
// [x, r]), e4, e5, e6 from x3, e6 from x5, e7 (n 0..5).
constexpr int kFastBlock = 16 * 16;
constexpr int kFastW1 = 0;
constexpr int kFastW2 = 9;
constexpr int kFastW3a = 18;
constexpr int kFastW3b = 27;
constexpr int kFastW4 = 36;
constexpr int kFastW5 = 45;
constexpr int kFastW6a = 54;
constexpr int kFastW6b = 63;
constexpr int kFastW7 = 72;
constexpr int kFastBlockCount = 81;

size_t fastSharedBytes();
void launchLocalFast(const LocalParams& params, cudaStream_t stream);

}  // namespace flwnet::cuda::local
