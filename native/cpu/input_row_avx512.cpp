// inputRowScalar (conv_scalar.cpp) eight pixels at a time, in double, with the same bits: Vc's
// blend of the two cell rows uses separate multiplies and adds in the scalar order (every product
// is rounded on its own, never fused into an FMA), x = byte / 255.0 is a correctly rounded
// division like the scalar table, and each double goes to float with the same rounding.

#include <immintrin.h>

#include "conv_kernels.h"

namespace flwnet::cpu {
namespace {

constexpr int kGroup = 8;  // pixels per step: one zmm of doubles

// a * b, rounded: the empty asm makes the product a value of its own, so the compiler cannot
// contract it with the add or subtract that uses it (this file is built with -mfma).
__m512d product(__m512d a, __m512d b) {
  __m512d p = _mm512_mul_pd(a, b);
  asm("" : "+v"(p));
  return p;
}

// The masked forms with all lanes on and a zero source, here and below: the plain ones start from an
// undefined register, which GCC 12 reports as maybe uninitialised.
__m512d toDouble(__m256i v) { return _mm512_maskz_cvtepi32_pd(0xFF, v); }
__m256 toFloat(__m512d v) { return _mm512_maskz_cvtpd_ps(0xFF, v); }

// Pixel p's four floats of c0..c3 (lane p of each) stored one pixel after another.
void storeInterleaved(float* out, __m256 c0, __m256 c1, __m256 c2, __m256 c3) {
  const __m256 t0 = _mm256_unpacklo_ps(c0, c1), t1 = _mm256_unpackhi_ps(c0, c1);
  const __m256 t2 = _mm256_unpacklo_ps(c2, c3), t3 = _mm256_unpackhi_ps(c2, c3);
  const __m256 p04 = _mm256_shuffle_ps(t0, t2, 0x44), p15 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 p26 = _mm256_shuffle_ps(t1, t3, 0x44), p37 = _mm256_shuffle_ps(t1, t3, 0xEE);
  _mm256_storeu_ps(out, _mm256_permute2f128_ps(p04, p15, 0x20));
  _mm256_storeu_ps(out + 8, _mm256_permute2f128_ps(p26, p37, 0x20));
  _mm256_storeu_ps(out + 16, _mm256_permute2f128_ps(p04, p15, 0x31));
  _mm256_storeu_ps(out + 24, _mm256_permute2f128_ps(p26, p37, 0x31));
}

// What every group of a row shares, made once per row: where a group's bytes are (fixed by the
// pixel stride, 3 or 4 channels: the mask of its 24 or 32 bytes and, for channel k, the byte index
// of each of the eight pixels' sample) and the row's blend weights of the two cell rows.
struct RowConstants {
  __mmask32 mask;
  __m512i index[3];
  __m512d ty;
  __m512d oneMinusTy;
};

RowConstants rowConstants(const InputRowArgs& args) {
  RowConstants row;
  row.mask = args.channels == 4 ? 0xFFFFFFFFu : 0x00FFFFFFu;
  const __m512i pixelStart = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                _mm512_set1_epi32(args.channels));
  for (int k = 0; k < 3; ++k) row.index[k] = _mm512_add_epi32(pixelStart, _mm512_set1_epi32(k));
  row.ty = _mm512_set1_pd(args.ty);
  row.oneMinusTy = _mm512_set1_pd(1.0 - args.ty);  // the scalar reference's 1 - ty, the same double
  return row;
}

// Channel k (0..2) of the group's eight pixels, and the largest of the three, as int32 lanes 0..7:
// one masked load of the group's bytes (a masked load never reads past them), widened to 32 bits,
// then each channel picked out with one two-register permute.
struct GroupBytes {
  __m256i channel[3];
  __m256i largest;
};

GroupBytes loadGroupBytes(const uint8_t* px, const RowConstants& row) {
  constexpr __mmask16 kAll16 = 0xFFFF;
  const __m256i bytes = _mm256_maskz_loadu_epi8(row.mask, px);
  const __m512i lo = _mm512_maskz_cvtepu8_epi32(kAll16, _mm256_castsi256_si128(bytes));       // bytes 0..15
  const __m512i hi = _mm512_maskz_cvtepu8_epi32(kAll16, _mm256_extracti128_si256(bytes, 1));  // bytes 16..31
  GroupBytes g;
  for (int k = 0; k < 3; ++k) {
    g.channel[k] = _mm512_maskz_extracti64x4_epi64(0xF, _mm512_permutex2var_epi32(lo, row.index[k], hi), 0);
  }
  g.largest = _mm256_max_epi32(g.channel[0], _mm256_max_epi32(g.channel[1], g.channel[2]));
  return g;
}

void inputGroup(const InputRowArgs& args, const RowConstants& row, int first) {
  const __m512d vc = _mm512_add_pd(product(row.oneMinusTy, _mm512_loadu_pd(args.top + first)),
                                   product(row.ty, _mm512_loadu_pd(args.bottom + first)));
  const __m512d half = product(_mm512_set1_pd(0.5), vc);

  const GroupBytes g = loadGroupBytes(args.pixels + static_cast<long>(first) * args.channels, row);
  const __m256 retouched = _mm256_i32gather_ps(args.retouch, g.largest, 4);
  const __m512d scale = _mm512_set1_pd(255.0);
  __m256 x[3], centred[3];
  for (int k = 0; k < 3; ++k) {
    const __m512d value = _mm512_div_pd(toDouble(g.channel[k]), scale);
    x[k] = toFloat(value);
    centred[k] = toFloat(_mm512_sub_pd(value, half));
  }
  storeInterleaved(args.in0 + static_cast<long>(first) * 4, centred[0], centred[1], centred[2], toFloat(half));
  storeInterleaved(args.xr + static_cast<long>(first) * 4, x[0], x[1], x[2], retouched);
}

}  // namespace

void inputRowAvx512(const InputRowArgs& args) {
  const RowConstants row = rowConstants(args);
  int first = 0;
  for (; first + kGroup <= args.count; first += kGroup) inputGroup(args, row, first);
  if (first == args.count) return;
  // The last few pixels through the reference, from their own column on.
  InputRowArgs tail = args;
  tail.pixels += static_cast<long>(first) * args.channels;
  tail.top += first;
  tail.bottom += first;
  tail.count = args.count - first;
  tail.in0 += static_cast<long>(first) * 4;
  tail.xr += static_cast<long>(first) * 4;
  inputRowScalar(tail);
}

}  // namespace flwnet::cpu
