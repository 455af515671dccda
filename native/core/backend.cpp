// The checks every backend shares: request validation and cancellation, done once before a
// backend's own enhanceImpl()/inspectImpl() runs.
#include "backend.h"

#include <cmath>
#include <string>

#include "error.h"

namespace flwnet {
namespace {

void validateExposure(double exposure) {
  if (!std::isfinite(exposure) || exposure < 0.0 || exposure > 1.0) {
    throw Error(ErrorCode::InvalidArgument, "exposure must be a finite number in [0, 1], got " + std::to_string(exposure));
  }
}

}  // namespace

Backend::Backend(size_t maxPixels) : maxPixels_(maxPixels == 0 ? kDefaultMaxPixels : maxPixels) {}

void Backend::throwIfCancelled(const std::atomic<int32_t>* cancel) {
  if (cancel != nullptr && cancel->load(std::memory_order_relaxed) != 0) {
    throw Error(ErrorCode::Cancelled, "enhancement was cancelled");
  }
}

void Backend::throwIfCancelled(const EnhanceRequest* requests, size_t count) {
  for (size_t i = 0; i < count; ++i) throwIfCancelled(requests[i].cancel);
}

void Backend::enhance(const EnhanceRequest* requests, size_t count, GlobalResult* results) {
  if (count == 0) return;
  if (requests == nullptr) throw Error(ErrorCode::InvalidArgument, "no requests given");
  for (size_t i = 0; i < count; ++i) {
    validateImage(requests[i].input, maxPixels_);
    validateExposure(requests[i].exposure);
    if (requests[i].output == nullptr) throw Error(ErrorCode::InvalidArgument, "request has no output buffer");
  }
  throwIfCancelled(requests, count);
  enhanceImpl(requests, count, results);
}

GlobalResult Backend::inspect(const ImageU8& image, double exposure) {
  validateImage(image, maxPixels_);
  validateExposure(exposure);
  return inspectImpl(image, exposure);
}

}  // namespace flwnet
