// Per-pixel inputs of the local branch that every backend derives the same way: the coarse
// brightness Vc (docs/numerics.md §5) and the retouched brightness r (§4). The CPU engine
// uses these directly; GPU backends use them as the reference their kernels are checked against.
#pragma once
#include <array>
#include <vector>

#include "global_branch.h"
#include "image.h"
#include "model.h"

namespace flwnet {

// One bilinear sample along an axis: value = (1 - t) v[i0] + t v[i1].
struct AxisTap {
  int i0;
  int i1;
  double t;
};

// Number of coarse cells along an axis of `size` pixels: max(1, floor(size / 20)).
int coarseCells(int size);

// The half-pixel-centre sample of output index `d` from a source axis of `sourceSize` values,
// where one output step covers `step` source steps (20 when down-sampling, 1/20 when up-sampling).
AxisTap bilinearTap(int d, int sourceSize, double step);

// V down-sampled to the coarse grid, and the taps that bring it back to full resolution.
struct CoarseBrightness {
  int cellsX = 0;
  int cellsY = 0;
  std::vector<double> cells;     // cellsY x cellsX, row-major, V in [0, 1]
  std::vector<AxisTap> rowTaps;  // one per image row: which cell rows to blend
  std::vector<AxisTap> colTaps;  // one per image column: which cell columns to blend

  // Vc along image row y: what depends on the row alone is looked up once, not per pixel.
  struct Row {
    const double* r0;
    const double* r1;
    double ty;
    const AxisTap* colTaps;
    // One cell row blended along x at a column's tap.
    static double blend(const double* cells, const AxisTap& tx) { return (1.0 - tx.t) * cells[tx.i0] + tx.t * cells[tx.i1]; }
    // Vc from a column's two blended cell rows.
    double between(double top, double bottom) const { return (1.0 - ty) * top + ty * bottom; }
    // Vc at column x, in double.
    double at(int x) const { return between(blend(r0, colTaps[x]), blend(r1, colTaps[x])); }
  };

  Row row(int y) const {
    const AxisTap& ty = rowTaps[y];
    return Row{&cells[static_cast<size_t>(ty.i0) * cellsX], &cells[static_cast<size_t>(ty.i1) * cellsX], ty.t,
               colTaps.data()};
  }

  // Vc at image pixel (x, y), in double.
  double at(int x, int y) const { return row(y).at(x); }
};

CoarseBrightness computeCoarseBrightness(const ImageU8& image);
// The same into `out`, reusing its storage (no allocation once it has held an image this large).
void computeCoarseBrightness(const ImageU8& image, CoarseBrightness& out);

// r for each of the 256 V levels: the 7-step quadratic curve evaluated in double, then rounded.
std::array<float, kLevels> retouchTable(const CurveParams& curve);

}  // namespace flwnet
