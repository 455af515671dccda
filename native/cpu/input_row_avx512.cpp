// inputRowScalar (conv_scalar.cpp) eight pixels at a time, in double, with the same bits: Vc's
// blend of the two cell rows uses separate multiplies and adds in the scalar order (every product
// is rounded on its own, never fused into an FMA), x = byte / 255.0 is a correctly rounded
// division like the scalar table, and each double goes to float with the same rounding.

#include <immintrin.h>

#include <algorithm>

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

// The masked forms with all lanes on and a zero source: the plain ones start from an undefined
// register, which GCC 12 reports as maybe uninitialised.
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

void inputGroup(const InputRowArgs& args, int first) {
  const __m512d ty = _mm512_set1_pd(args.ty);
  const __m512d vc = _mm512_add_pd(product(_mm512_sub_pd(_mm512_set1_pd(1.0), ty), _mm512_loadu_pd(args.top + first)),
                                   product(ty, _mm512_loadu_pd(args.bottom + first)));
  const __m512d half = product(_mm512_set1_pd(0.5), vc);

  alignas(32) int bytes[3][kGroup];
  alignas(32) float retouched[kGroup];
  const uint8_t* px = args.pixels + static_cast<long>(first) * args.channels;
  for (int p = 0; p < kGroup; ++p, px += args.channels) {
    for (int k = 0; k < 3; ++k) bytes[k][p] = px[k];
    retouched[p] = args.retouch[std::max(px[0], std::max(px[1], px[2]))];
  }
  const __m512d scale = _mm512_set1_pd(255.0);
  __m256 x[3], centred[3];
  for (int k = 0; k < 3; ++k) {
    const __m512d value = _mm512_div_pd(toDouble(_mm256_load_si256(reinterpret_cast<const __m256i*>(bytes[k]))), scale);
    x[k] = toFloat(value);
    centred[k] = toFloat(_mm512_sub_pd(value, half));
  }
  storeInterleaved(args.in0 + static_cast<long>(first) * 4, centred[0], centred[1], centred[2], toFloat(half));
  storeInterleaved(args.xr + static_cast<long>(first) * 4, x[0], x[1], x[2], _mm256_load_ps(retouched));
}

}  // namespace

void inputRowAvx512(const InputRowArgs& args) {
  int first = 0;
  for (; first + kGroup <= args.count; first += kGroup) inputGroup(args, first);
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
