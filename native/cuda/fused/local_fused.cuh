// The local branch (docs/numerics.md §4-§6) as one fused kernel per launch: each block stages its
// inputs (x, curve r, coarse brightness Vc) with a 9-pixel halo in shared memory, as a tile
// (local_exact.cu, local_fast.cu) or row by row down a column strip (local_exact_stream.cu, the
// default exact kernel), and runs e1..e7 there, writing only the final pixels to global memory. A small prior kernel computes the
// coarse grid. Large images are processed in horizontal bands of output rows (the input stays
// whole: the halo reads past the band).
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/backend.h"
#include "cuda/fused/global_branch.cuh"

namespace flwnet::cuda {

// Per-image inputs and outputs of one local-branch launch.
struct LocalImage {
  float* coarse = nullptr;         // cellsY x cellsX coarse V (written by launchCoarseGrid)
  const float* retouch = nullptr;  // 256 entries: r for each V level (global branch output)
  void* output = nullptr;          // first element of row bandBegin (uint8_t or float)
  int cellsX = 1;
  int cellsY = 1;
  int bandBegin = 0;  // output rows [bandBegin, bandBegin + bandRows)
  int bandRows = 0;
  int tilesX = 0;     // filled by the launcher
  int firstTile = 0;  // filled by the launcher
};

struct LocalParams {
  DeviceBatch batch;
  LocalImage images[kMaxBatch];
  const void* weights = nullptr;  // packLocalWeights(...) for the launch's precision, on the device
  const float* biases = nullptr;  // 7 x 16 floats, on the device
  bool floatOutput = false;
  int totalTiles = 0;             // filled by the launcher
};

// Number of coarse cells along an axis (docs/numerics.md §5).
inline int coarseCellCount(int size) { return size / kCoarseScale > 0 ? size / kCoarseScale : 1; }

// Fills images[i].coarse for every image (all cells; cheap next to the local branch).
void launchCoarseGrid(const LocalParams& params, cudaStream_t stream);

// Which kernel runs Precision::Exact (BackendOptions::cudaExactKernel): `Stream`
// (local_exact_stream.cu, column strips streamed down the rows; the default) or `Tile`
// (local_exact.cu, 16x16 output tiles). Both give the same results within fp32 rounding of the
// summation order.
using ExactKernel = CudaExactKernel;

const char* exactKernelName(ExactKernel kernel);

// Which kernel runs Precision::Fast (BackendOptions::cudaFastKernel): `Wmma` (local_fast.cu, the
// default) or `Mma` (mma/local_mma.cu, mma.sync + ldmatrix, sm_80 or newer; on older GPUs Wmma
// runs instead).
using FastKernel = CudaFastKernel;

const char* fastKernelName(FastKernel kernel);

// Fills tilesX and firstTile of every image and totalTiles for blocks of tileCols x tileRows
// output pixels. Throws InvalidArgument when the tiles exceed the grid limit.
void assignTiles(LocalParams& params, int tileCols, int tileRows);

// The fused e1..e7 kernel over the bands in params. Throws InvalidArgument for a band whose tiles
// exceed the grid limit (the caller bands large images so this does not happen).
void launchLocalFused(LocalParams& params, Precision precision, cudaStream_t stream,
                      ExactKernel exactKernel = ExactKernel::Stream, FastKernel fastKernel = FastKernel::Wmma);

// Convolution weights rearranged for the kernels of `precision` (bytes to upload as-is).
std::vector<uint8_t> packLocalWeights(const ModelWeights& weights, Precision precision);
std::vector<float> packLocalBiases(const ModelWeights& weights);

// Output rows per tile of each kernel, so callers can align band heights.
int localTileRows(Precision precision);

}  // namespace flwnet::cuda
