// Plain image views shared by all backends.
#pragma once
#include <cstddef>
#include <cstdint>

namespace flwnet {

// Interleaved 8-bit pixels, rows packed (stride = width * channels). channels is 3 (RGB) or
// 4 (RGBA; alpha is carried through and never enters the network).
struct ImageU8 {
  const uint8_t* data = nullptr;
  int width = 0;
  int height = 0;
  int channels = 3;

  size_t pixels() const { return static_cast<size_t>(width) * static_cast<size_t>(height); }
  size_t bytes() const { return pixels() * static_cast<size_t>(channels); }
};

// What the caller wants back: 8-bit pixels (docs/numerics.md §1 rounding) or the network's float output.
enum class OutputKind { U8, F32 };

// Throws InvalidArgument unless the view is usable (non-null, 1 <= width, height, channels 3 or 4,
// pixel count within maxPixels).
void validateImage(const ImageU8& image, size_t maxPixels);

}  // namespace flwnet
