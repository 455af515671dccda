// Precision::Exact local branch with a streaming schedule: fp32 FMA, the same packed weights as
// local_exact.cu, no vertical recomputation inside a segment.
//
// Each block owns a strip of 46 output columns (64 with the 9-column halos) and a segment of rows,
// and walks down it 5 rows per step. Every layer keeps its output rows in a small ring in shared
// memory; in each step the staging and then e1..e7 in order produce their next 5 rows, layer k
// running lagOf(k) rows behind the input (the vertical receptive field of x_k), so every row a
// layer reads was written earlier in the same step or in an earlier one. The rings (7 to 11 rows
// of 64 columns x 16 fp32 channels) take 210 KiB: one block of 256 threads per SM, 7 barriers per
// step of 230 output pixels. Halo work is only the
// strip's halo columns (18.0k MACs per output pixel against the network's 15.8k) plus the
// segment's top and bottom ramps.
//
// Work items: for the 16-channel layers a thread computes 4 output channels of one column over the
// 5 rows (20 accumulators, 5 pixels reuse each weight register), so a warp covers 8 columns x 4
// channel groups and its 16-byte shared loads hit 8 distinct pixels (one wavefront). e7 (4
// channels) takes one row per thread instead so that enough threads have work.
#include <cuda_runtime.h>

#include <algorithm>
#include <limits>

#include "core/error.h"
#include "cuda/runtime/cuda_check.h"
#include "cuda/fused/local_common.cuh"
#include "cuda/fused/local_exact.cuh"
#include "cuda/fused/local_exact_stream.cuh"
#include "cuda/fused/local_schedules.h"

namespace flwnet::cuda::local {
namespace {

constexpr int kOut = kStreamColumns;
constexpr int kStrip = kOut + 2 * kHalo;  // 64 frame columns
constexpr int kRows = kStreamRows;
constexpr int kThreads = 256;

// Rows by which layer k's output trails the input rows: its vertical receptive field (index 0 is
// the staged input, 7 the image output).
constexpr int lagOf(int k) { return k <= 3 ? k : k == 4 ? 5 : k == 5 ? 7 : k == 6 ? 8 : 9; }
// Columns (and rows) of halo still needed after layer k: layer k is valid from this far in.
constexpr int validFromOf(int k) { return lagOf(k); }

// A consumer k reading layer j with dilation d, in the step where j has just written its newest
// kRows rows, reaches back kRows + lag(k) + d - lag(j) rows: that many rows must stay in j's ring.
constexpr int reach(int j, int k, int d) { return kRows + lagOf(k) + d - lagOf(j); }
constexpr int larger(int a, int b) { return a > b ? a : b; }
constexpr int ringDepthOf(int j) {
  // Consumers as in kStreamSchedule (local_schedules.h); dilations from the graph.
  return j == 0 ? larger(reach(0, 1, kDilationOf<0>), reach(0, 3, kDilationOf<2>))  // staging: e1 and e3
         : j == 3 ? larger(reach(3, 4, kDilationOf<3>), reach(3, 6, kDilationOf<5>))  // x3: e4 and e6
         : j == 1 ? reach(1, 2, kDilationOf<1>)
         : j == 2 ? reach(2, 3, kDilationOf<2>)
         : j == 4 ? reach(4, 5, kDilationOf<4>)
         : j == 5 ? reach(5, 6, kDilationOf<5>)
                  : reach(6, 7, kDilationOf<6>);
}
constexpr int chunksOf(int j) { return j == 0 ? 2 : 4; }  // staging: [x - Vc/2, Vc/2] and [x, r]
constexpr int ringOffsetOf(int j) {
  return j == 0 ? 0 : ringOffsetOf(j - 1) + chunksOf(j - 1) * ringDepthOf(j - 1) * kStrip;
}
constexpr int kSharedFloat4 = ringOffsetOf(7);

static_assert((kStrip - 2 * validFromOf(1)) * 4 <= kThreads, "e1 items must fit one pass of the block");
static_assert(kOut * kRows <= kThreads, "e7 items must fit one pass of the block");
// accumulate() wraps a tap's first row back into the ring at most once.
static_assert(ringDepthOf(3) > 4 && ringDepthOf(4) > 4, "the dilation-2 inputs need rings deeper than 4 rows");

__device__ __forceinline__ int wrapRow(int y, int depth) {
  const int r = y % depth;
  return r < 0 ? r + depth : r;
}

__device__ __forceinline__ float component(const float4& v, int c) {
  return c == 0 ? v.x : c == 1 ? v.y : c == 2 ? v.z : v.w;
}

// One input of a convolution: the ring (from its first used chunk) and the weights of those
// channels, [tap][cin][cout].
struct Source {
  const float4* ring;
  int depth;
  const float* weights;
};

// acc[i][o] += conv of rows top .. top + ROWS - 1 at frame column `col`, output channels
// 4 * group + o, over the CIN channels of `s`.
template <int ROWS, int CIN, int COUT>
__device__ __forceinline__ void accumulate(float (&acc)[ROWS][4], const Source& s, int top, int col, int group,
                                           int dilation) {
  const int plane = s.depth * kStrip;
  const int firstRow = wrapRow(top - dilation, s.depth);
#pragma unroll 1
  for (int tap = 0; tap < 9; ++tap) {
    const int ky = tap / 3;
    const int kx = tap - 3 * ky;
    int row = firstRow + ky * dilation;
    row -= row >= s.depth ? s.depth : 0;
    int index[ROWS];
#pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      index[i] = row * kStrip + col + (kx - 1) * dilation;
      row = row + 1 == s.depth ? 0 : row + 1;
    }
    const float4* w = reinterpret_cast<const float4*>(s.weights + tap * CIN * COUT) + group;
#pragma unroll
    for (int c4 = 0; c4 < CIN / 4; ++c4) {
      float4 a[ROWS];
#pragma unroll
      for (int i = 0; i < ROWS; ++i) a[i] = s.ring[c4 * plane + index[i]];
#pragma unroll
      for (int cc = 0; cc < 4; ++cc) {
        const float4 wv = __ldg(w + (4 * c4 + cc) * (COUT / 4));
#pragma unroll
        for (int i = 0; i < ROWS; ++i) {
          const float av = component(a[i], cc);
          acc[i][0] = fmaf(av, wv.x, acc[i][0]);
          acc[i][1] = fmaf(av, wv.y, acc[i][1]);
          acc[i][2] = fmaf(av, wv.z, acc[i][2]);
          acc[i][3] = fmaf(av, wv.w, acc[i][3]);
        }
      }
    }
  }
}

// Where the block is and which rows the current step covers.
struct StepSite {
  const LocalParams* params;
  TileSite tile;   // image, first output column, first output row of the segment
  int segmentEnd;  // one past the segment's last output row
  int inputTop;    // first input row staged in this step
};

// The ring of layer j (0: staging) in the block's shared memory.
template <int J>
__device__ __forceinline__ float4* ringOf(float4* shared) {
  return shared + ringOffsetOf(J);
}

// Layer K's kRows rows of this step: GROUPS groups of 4 output channels, ROWS rows per thread.
template <int K, int CIN_A, int CIN_B, int GROUPS, int ROWS>
__device__ void convRows(const StepSite& step, const Source& a, const Source& b, float4* dst) {
  constexpr int kCout = GROUPS * 4;
  constexpr int kSlices = kRows / ROWS;
  constexpr bool kFinal = K == 7;
  constexpr int kWidth = kStrip - 2 * validFromOf(K);
  const int item = static_cast<int>(threadIdx.x);
  if (item >= kWidth * GROUPS * kSlices) return;
  const int group = item % GROUPS;
  const int col = validFromOf(K) + item / (GROUPS * kSlices);
  const int top = step.inputTop - lagOf(K) + (item / GROUPS) % kSlices * ROWS;
  const LocalParams& p = *step.params;
  const float* bias = p.biases + (K - 1) * 16 + 4 * group;
  float acc[ROWS][4];
#pragma unroll
  for (int i = 0; i < ROWS; ++i)
#pragma unroll
    for (int o = 0; o < 4; ++o) acc[i][o] = bias[o];
  constexpr int dilation = kDilationOf<K - 1>;
  accumulate<ROWS, CIN_A, kCout>(acc, a, top, col, group, dilation);
  if constexpr (CIN_B > 0) accumulate<ROWS, CIN_B, kCout>(acc, b, top, col, group, dilation);

  const DeviceImage& img = p.batch.image[step.tile.image];
  const int gx = step.tile.x0 - kHalo + col;
  if constexpr (kFinal) {
#pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      const int gy = top + i;
      if (gy < step.tile.y0 || gy >= step.segmentEnd || !insideImage(img, gx, gy)) continue;
      const float y[3] = {softplus(acc[i][0]), softplus(acc[i][1]), softplus(acc[i][2])};
      writeOutputPixel(p, step.tile.image, gx, gy, y);
    }
  } else {
    constexpr int kDepth = ringDepthOf(K);
    int row = wrapRow(top, kDepth);
#pragma unroll
    for (int i = 0; i < ROWS; ++i) {
      // Zero padding: activations outside the image are 0 for every layer.
      float4 v = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
      if (insideImage(img, gx, top + i)) {
        v = make_float4(leakyRelu(acc[i][0]), leakyRelu(acc[i][1]), leakyRelu(acc[i][2]), leakyRelu(acc[i][3]));
      }
      dst[(group * kDepth + row) * kStrip + col] = v;
      row = row + 1 == kDepth ? 0 : row + 1;
    }
  }
}

// Rows of layer K this step that lie wholly above or below the image are zeros; no need to compute.
template <int K>
__device__ void zeroRows(const StepSite& step, float4* dst) {
  constexpr int kDepth = ringDepthOf(K);
  const int top = step.inputTop - lagOf(K);
  for (int i = threadIdx.x; i < 4 * kRows * kStrip; i += kThreads) {
    const int chunk = i / (kRows * kStrip);
    const int rest = i - chunk * kRows * kStrip;
    const int row = wrapRow(top + rest / kStrip, kDepth);
    dst[(chunk * kDepth + row) * kStrip + rest % kStrip] = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
  }
}

// Whether any of layer K's rows in this step is read by the segment's outputs: layer K is needed
// from kHalo - lag(K) rows above the segment to as far below it.
template <int K>
__device__ __forceinline__ bool rowsNeeded(const StepSite& step) {
  const int top = step.inputTop - lagOf(K);
  const int margin = kHalo - lagOf(K);
  return top + kRows - 1 >= step.tile.y0 - margin && top <= step.segmentEnd - 1 + margin;
}

// Runs layer K for this step (compute, zero fill or nothing) and then synchronises the block.
template <int K, int CIN_A, int CIN_B, int GROUPS, int ROWS>
__device__ void layerStep(const StepSite& step, const Source& a, const Source& b, float4* dst) {
  const int top = step.inputTop - lagOf(K);
  const int height = step.params->batch.image[step.tile.image].height;
  if (rowsNeeded<K>(step)) {
    if (top >= height || top + kRows <= 0) {
      if constexpr (K != 7) zeroRows<K>(step, dst);
    } else {
      convRows<K, CIN_A, CIN_B, GROUPS, ROWS>(step, a, b, dst);
    }
  }
  if constexpr (K != 7) __syncthreads();  // the next step's staging touches no ring e7 reads
}

// The step's kRows input rows into the staging ring: chunk 0 e1's [x - Vc/2, Vc/2], chunk 1 e3's [x, r].
__device__ void stageRows(const StepSite& step, float4* staging) {
  constexpr int kDepth = ringDepthOf(0);
  const LocalParams& p = *step.params;
  const DeviceImage& img = p.batch.image[step.tile.image];
  const LocalImage& li = p.images[step.tile.image];
  for (int i = threadIdx.x; i < kRows * kStrip; i += kThreads) {
    const int gy = step.inputTop + i / kStrip;
    const int col = i % kStrip;
    const int gx = step.tile.x0 - kHalo + col;
    float4 e1 = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    float4 e3 = e1;
    if (insideImage(img, gx, gy)) {
      const PixelInputs in = pixelInputs(img, li, gx, gy);
      e1 = make_float4(in.e1[0], in.e1[1], in.e1[2], in.e1[3]);
      e3 = make_float4(in.e3[0], in.e3[1], in.e3[2], in.e3[3]);
    }
    const int row = wrapRow(gy, kDepth);
    staging[row * kStrip + col] = e1;
    staging[(kDepth + row) * kStrip + col] = e3;
  }
  __syncthreads();
}

__global__ void __launch_bounds__(kThreads, 1) localExactStreamKernel(LocalParams p, int segmentRows) {
  extern __shared__ float4 rings[];
  StepSite step{&p, locateTile(p, segmentRows, kOut), 0, 0};
  const LocalImage& li = p.images[step.tile.image];
  step.segmentEnd = min(step.tile.y0 + segmentRows, li.bandBegin + li.bandRows);
  const float* w = static_cast<const float*>(p.weights);
  float4* staging = ringOf<0>(rings);
  const Source none{nullptr, 0, nullptr};
  const Source stagedE1{staging, ringDepthOf(0), w + kExactW1};
  const Source stagedE3{staging + ringDepthOf(0) * kStrip, ringDepthOf(0), w + kExactW3b};
  const Source x1{ringOf<1>(rings), ringDepthOf(1), w + kExactW2};
  const Source x2{ringOf<2>(rings), ringDepthOf(2), w + kExactW3a};
  const Source x3e4{ringOf<3>(rings), ringDepthOf(3), w + kExactW4};
  const Source x3e6{ringOf<3>(rings), ringDepthOf(3), w + kExactW6a};
  const Source x4{ringOf<4>(rings), ringDepthOf(4), w + kExactW5};
  const Source x5{ringOf<5>(rings), ringDepthOf(5), w + kExactW6b};
  const Source x6{ringOf<6>(rings), ringDepthOf(6), w + kExactW7};
  // The first step stages the topmost input row any output of the segment depends on; the last
  // one produces the segment's last output row.
  for (step.inputTop = step.tile.y0 - kHalo; step.inputTop - lagOf(7) < step.segmentEnd; step.inputTop += kRows) {
    if (rowsNeeded<0>(step)) stageRows(step, staging);
    layerStep<1, 4, 0, 4, kRows>(step, stagedE1, none, ringOf<1>(rings));
    layerStep<2, 16, 0, 4, kRows>(step, x1, none, ringOf<2>(rings));
    layerStep<3, 16, 4, 4, kRows>(step, x2, stagedE3, ringOf<3>(rings));
    layerStep<4, 16, 0, 4, kRows>(step, x3e4, none, ringOf<4>(rings));
    layerStep<5, 16, 0, 4, kRows>(step, x4, none, ringOf<5>(rings));
    layerStep<6, 16, 16, 4, kRows>(step, x3e6, x5, ringOf<6>(rings));
    layerStep<7, 16, 0, 1, 1>(step, x6, none, nullptr);
  }
}

// Segment height for this launch: the one that minimises (waves of blocks) x (steps per block),
// i.e. balances the SMs' load against the ramp work every segment repeats.
int chooseSegmentRows(const LocalParams& params, int concurrentBlocks) {
  int tallest = 1;
  for (int b = 0; b < params.batch.count; ++b) tallest = std::max(tallest, params.images[b].bandRows);
  int best = kRows;
  long long bestCost = std::numeric_limits<long long>::max();
  for (int rows = kRows; rows < tallest + kRows; rows += kRows) {
    long long blocks = 0;
    for (int b = 0; b < params.batch.count; ++b) {
      const long long strips = (params.batch.image[b].width + kOut - 1) / kOut;
      blocks += strips * ((params.images[b].bandRows + rows - 1) / rows);
    }
    const long long waves = (blocks + concurrentBlocks - 1) / concurrentBlocks;
    const long long cost = waves * ((rows + 2 * kHalo + kRows - 1) / kRows);
    if (cost <= bestCost) {  // ties: the taller segment, fewer blocks
      bestCost = cost;
      best = rows;
    }
  }
  return best;
}

}  // namespace

size_t exactStreamSharedBytes() { return static_cast<size_t>(kSharedFloat4) * sizeof(float4); }

void launchLocalExactStream(LocalParams& params, cudaStream_t stream) {
  const size_t smem = exactStreamSharedBytes();
  FLWNET_CUDA_CHECK(cudaFuncSetAttribute(localExactStreamKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         static_cast<int>(smem)));
  int device = 0, sms = 1, perSm = 1;
  FLWNET_CUDA_CHECK(cudaGetDevice(&device));
  FLWNET_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  FLWNET_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, localExactStreamKernel, kThreads, smem));
  const int segmentRows = chooseSegmentRows(params, std::max(1, sms * perSm));
  assignTiles(params, kOut, segmentRows);
  localExactStreamKernel<<<params.totalTiles, kThreads, smem, stream>>>(params, segmentRows);
  FLWNET_CUDA_CHECK_LAUNCH("localExactStreamKernel");
}

}  // namespace flwnet::cuda::local
