// Engine settings that select among equivalent implementations (for testing them against each
// other): plain enums, so the losses, the backends and the addon share them without N-API or CUDA.
#pragma once

namespace flwnet {

// CPU instruction set: Auto picks the best the processor supports; the others force one (a
// processor lacking it is an InvalidArgument error when the engine is created).
enum class CpuIsaSetting { Auto, Scalar, Avx2, Avx512 };

// Which CUDA kernel runs Precision::Exact: Stream (column strips streamed down the rows, the
// default) or Tile (16x16 output tiles). Both give the same results within fp32 summation order.
enum class CudaExactKernel { Stream, Tile };

// Which convolution kernels the CPU backend runs for e1..e6 where the processor has vector ones:
// Auto = the 2-D Winograd blocks (native/cpu/winograd2d.h); RowWinograd = the row-wise F(6,3)
// of native/cpu/winograd.h (the previous engine, kept for comparing the two).
enum class CpuKernel { Auto, RowWinograd, BlockWinograd };
// Which CUDA kernel runs Precision::Fast: Wmma (WMMA fragments, the default) or Mma (mma.sync +
// ldmatrix, compute capability 8.0 or newer; older GPUs run Wmma whatever is asked).
enum class CudaFastKernel { Wmma, Mma };

// How the CUDA global branch counts V levels: Shared (one shared-memory atomic per pixel, the
// default) or Warp (lanes of a warp holding the same level add once). The counts are identical.
enum class CudaLevelCounts { Shared, Warp };

}  // namespace flwnet
