// Precision::Exact local branch, streaming schedule (see local_exact_stream.cu): same weights, biases
// and results as local_exact.cu, less recomputation of halos.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/fused/local_fused.cuh"

namespace flwnet::cuda::local {

constexpr int kStreamColumns = 46;  // output columns per strip (strip + halos = 64 columns)
constexpr int kStreamRows = 5;      // rows each layer advances per step

size_t exactStreamSharedBytes();

// Picks the segment height, fills the tile fields of `params` and launches.
void launchLocalExactStream(LocalParams& params, cudaStream_t stream);

}  // namespace flwnet::cuda::local
