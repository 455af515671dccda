#include "image.h"

#include <string>

#include "error.h"

namespace flwnet {

void validateImage(const ImageU8& image, size_t maxPixels) {
  if (image.data == nullptr) {
    throw Error(ErrorCode::InvalidArgument, "image has no pixel data");
  }
  if (image.width < 1 || image.height < 1) {
    throw Error(ErrorCode::InvalidArgument, "image must be at least 1 x 1 pixels, got " +
                                                std::to_string(image.width) + " x " + std::to_string(image.height));
  }
  if (image.channels != 3 && image.channels != 4) {
    throw Error(ErrorCode::InvalidArgument,
                "image must have 3 (RGB) or 4 (RGBA) channels, got " + std::to_string(image.channels));
  }
  if (maxPixels != 0 && image.pixels() > maxPixels) {
    throw Error(ErrorCode::InvalidArgument, "image of " + std::to_string(image.width) + " x " +
                                                std::to_string(image.height) + " pixels exceeds the limit of " +
                                                std::to_string(maxPixels) + " pixels");
  }
}

}  // namespace flwnet
