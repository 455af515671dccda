#include "train/train_batch.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace flwnet::train {

void validateBatch(const TrainBatchView& batch) {
  if (batch.examples.empty()) throw Error(ErrorCode::InvalidArgument, "a training batch needs at least one example");
  if (batch.width < 1 || batch.height < 1) throw Error(ErrorCode::InvalidArgument, "training images must be at least 1x1");
  const double pixels = double(batch.width) * batch.height * double(batch.examples.size());
  if (pixels > double(kMaxBatchPixels)) {
    throw Error(ErrorCode::InvalidArgument, "a training batch may hold at most " + std::to_string(kMaxBatchPixels) +
                                                " pixels in all; use smaller crops or fewer examples");
  }
  for (const TrainExampleView& ex : batch.examples) {
    if (ex.low == nullptr || ex.high == nullptr) throw Error(ErrorCode::InvalidArgument, "a training example has no pixels");
    if (!std::isnan(ex.exposure) && !(ex.exposure >= 0.0 && ex.exposure <= 1.0)) {
      throw Error(ErrorCode::InvalidArgument, "exposure must be in [0, 1]");
    }
  }
}

double referenceExposure(const uint8_t* rgb, int width, int height) {
  const size_t n = size_t(width) * height;
  uint64_t sum = 0;  // exact: the mean of level / 255 is (sum of levels) / (255 n)
  for (size_t i = 0; i < n; ++i) sum += std::max(rgb[i * 3], std::max(rgb[i * 3 + 1], rgb[i * 3 + 2]));
  return static_cast<double>(sum) / 255.0 / static_cast<double>(n);
}

}  // namespace flwnet::train
