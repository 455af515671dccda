// Precision::Exact fused local-branch kernel (fp32 FMA); see local_exact.cu for the design.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/fused/local_fused.cuh"

namespace flwnet::cuda::local {

constexpr int kExactTile = 16;  // output pixels per block side

// Offsets (in floats) of each weight group in the packed exact layout, each [tap][cin][cout]:
// e1 (4 -> 16), e2, e3 from x2 (16 -> 16), e3 from [x, r] (4 -> 16), e4, e5, e6 from x3, e6 from
// x5, and e7 (16 -> 4: output channels 0..3; only 0..2 reach the image).
constexpr int kExactW1 = 0;
constexpr int kExactW2 = kExactW1 + 9 * 4 * 16;
constexpr int kExactW3a = kExactW2 + 9 * 16 * 16;
constexpr int kExactW3b = kExactW3a + 9 * 16 * 16;
constexpr int kExactW4 = kExactW3b + 9 * 4 * 16;
constexpr int kExactW5 = kExactW4 + 9 * 16 * 16;
constexpr int kExactW6a = kExactW5 + 9 * 16 * 16;
constexpr int kExactW6b = kExactW6a + 9 * 16 * 16;
constexpr int kExactW7 = kExactW6b + 9 * 16 * 16;
constexpr int kExactWeightCount = kExactW7 + 9 * 16 * 4;

size_t exactSharedBytes();
void launchLocalExact(const LocalParams& params, cudaStream_t stream);

}  // namespace flwnet::cuda::local
