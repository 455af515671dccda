#include "coarse_brightness.h"

#include <algorithm>
#include <cmath>

namespace flwnet {

int coarseCells(int size) { return std::max(1, size / kCoarseScale); }

AxisTap bilinearTap(int d, int sourceSize, double step) {
  const double c = std::max((d + 0.5) * step - 0.5, 0.0);
  const int i0 = std::min(static_cast<int>(std::floor(c)), sourceSize - 1);
  const int i1 = std::min(i0 + 1, sourceSize - 1);
  // At the last source index both taps coincide, so the weight is irrelevant; zero keeps it exact.
  const double t = (i0 == sourceSize - 1) ? 0.0 : c - i0;
  return AxisTap{i0, i1, t};
}

static double pixelV(const ImageU8& image, int x, int y) {
  const uint8_t* p = image.data + (static_cast<size_t>(y) * image.width + x) * image.channels;
  return std::max(p[0], std::max(p[1], p[2])) / 255.0;
}

void computeCoarseBrightness(const ImageU8& image, CoarseBrightness& cb) {
  cb.cellsX = coarseCells(image.width);
  cb.cellsY = coarseCells(image.height);
  // Down-sampling taps go in the up-sampling vectors first (they are refilled below), so a
  // reused CoarseBrightness needs no allocation once it has seen an image this large.
  std::vector<AxisTap>& downY = cb.rowTaps;
  std::vector<AxisTap>& downX = cb.colTaps;
  downY.resize(cb.cellsY);
  downX.resize(cb.cellsX);
  for (int i = 0; i < cb.cellsY; ++i) downY[i] = bilinearTap(i, image.height, kCoarseScale);
  for (int j = 0; j < cb.cellsX; ++j) downX[j] = bilinearTap(j, image.width, kCoarseScale);
  cb.cells.resize(static_cast<size_t>(cb.cellsX) * cb.cellsY);
  for (int i = 0; i < cb.cellsY; ++i) {
    const AxisTap& ty = downY[i];
    for (int j = 0; j < cb.cellsX; ++j) {
      const AxisTap& tx = downX[j];
      const double top = (1.0 - tx.t) * pixelV(image, tx.i0, ty.i0) + tx.t * pixelV(image, tx.i1, ty.i0);
      const double bottom = (1.0 - tx.t) * pixelV(image, tx.i0, ty.i1) + tx.t * pixelV(image, tx.i1, ty.i1);
      cb.cells[static_cast<size_t>(i) * cb.cellsX + j] = (1.0 - ty.t) * top + ty.t * bottom;
    }
  }
  const double up = 1.0 / kCoarseScale;
  cb.rowTaps.resize(image.height);
  cb.colTaps.resize(image.width);
  for (int y = 0; y < image.height; ++y) cb.rowTaps[y] = bilinearTap(y, cb.cellsY, up);
  for (int x = 0; x < image.width; ++x) cb.colTaps[x] = bilinearTap(x, cb.cellsX, up);
}

CoarseBrightness computeCoarseBrightness(const ImageU8& image) {
  CoarseBrightness cb;
  computeCoarseBrightness(image, cb);
  return cb;
}

std::array<float, kLevels> retouchTable(const CurveParams& curve) {
  std::array<float, kLevels> table{};
  for (int level = 0; level < kLevels; ++level) {
    double r = level / 255.0;
    for (int i = 0; i < kCurveCount; ++i) r = r + curve.a[i] * (r - r * r);
    table[level] = static_cast<float>(r);
  }
  return table;
}

}  // namespace flwnet
