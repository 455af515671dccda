// Precision::Fast local branch on mma.sync.m16n8k16 (fp16 inputs, fp32 accumulation), streamed
// down column strips; see local_mma.cu for the design and mma_layout.h for every index. Chosen by
// the engine option cudaFastKernel: 'mma' (FastKernel::Mma in fused/local_fused.cuh) on GPUs of
// compute capability 8.0 or newer; the WMMA kernel (fused/local_fast.cu) stays the default and the
// fallback.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>

#include "cuda/fused/local_fused.cuh"

namespace flwnet::cuda::fastmma {

// Whether the current device has mma.sync.m16n8k16 with fp32 accumulation and ldmatrix (sm_80+).
bool localMmaSupported();

size_t localMmaSharedBytes();

// Picks the segment height, fills the tile fields of `params` and launches; `weights` is the
// device copy of mma::packMmaWeights (16-byte aligned).
void launchLocalMma(LocalParams& params, const void* weights, cudaStream_t stream);

}  // namespace flwnet::cuda::fastmma
