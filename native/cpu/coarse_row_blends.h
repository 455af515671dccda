// Stage 0's cache of Vc's horizontal blends (input_rows.h), one per tile worker.
#pragma once
#include <cstddef>
#include <vector>

#include "core/coarse_brightness.h"

namespace flwnet::cpu {

// The two coarse cell rows of Vc blended along x over a tile's columns. They depend only on which
// pair of cell rows an image row blends, which changes about every 20 rows, so they are computed
// once per pair rather than for every row. Reset before each tile: the next request's cells may
// sit at the same address.
class CoarseRowBlends {
 public:
  void reset() { r0_ = r1_ = nullptr; }

  // Makes top() and bottom() hold columns [c0, c1) of `row`'s cell rows.
  void prepare(const CoarseBrightness::Row& row, int c0, int c1) {
    if (row.r0 == r0_ && row.r1 == r1_ && c0 == c0_ && c1 == c1_) return;
    top_.resize(static_cast<size_t>(c1 - c0));
    bottom_.resize(top_.size());
    for (int c = c0; c < c1; ++c) {
      top_[c - c0] = CoarseBrightness::Row::blend(row.r0, row.colTaps[c]);
      bottom_[c - c0] = CoarseBrightness::Row::blend(row.r1, row.colTaps[c]);
    }
    r0_ = row.r0, r1_ = row.r1, c0_ = c0, c1_ = c1;
  }
  const double* top() const { return top_.data(); }
  const double* bottom() const { return bottom_.data(); }

 private:
  std::vector<double> top_, bottom_;
  const double* r0_ = nullptr;
  const double* r1_ = nullptr;
  int c0_ = 0, c1_ = 0;
};

}  // namespace flwnet::cpu
