// The arithmetic of the F(6,3) transforms (winograd.h), written once for any vector type. Each
// instruction set's kernel supplies an Ops struct: `V` (the vector type) and static add, sub, mul,
// fma(a, b, c) = a b + c, fnma(a, b, c) = c - a b and splat(float). Loads and stores stay with the
// kernels, which differ in how they cover 16 channels (one zmm; two ymm or one xmm).
#pragma once
#include <type_traits>

#include "core/error.h"
#include "winograd.h"

namespace flwnet::cpu {
// Internal linkage: each instruction set's translation unit keeps its own copy (see output_row.h).
namespace {

// t = B^T d for one tile's 8 inputs. The rows of B^T pair up (1 and 2, 3 and 4, 5 and 6) as
// a +- b with shared halves.
template <class Ops, class V = typename Ops::V>
inline void winogradInputTransform(const V (&d)[kWinogradPoints], V (&t)[kWinogradPoints]) {
  const V c21_4 = Ops::splat(21.0f / 4), c17_4 = Ops::splat(17.0f / 4);
  const V c5_4 = Ops::splat(5.0f / 4), c5_2 = Ops::splat(5.0f / 2);
  const V quarter = Ops::splat(0.25f), half = Ops::splat(0.5f);
  const V two = Ops::splat(2.0f), four = Ops::splat(4.0f), five = Ops::splat(5.0f);
  t[0] = Ops::fma(c21_4, Ops::sub(d[4], d[2]), Ops::sub(d[0], d[6]));
  t[7] = Ops::fma(c21_4, Ops::sub(d[3], d[5]), Ops::sub(d[7], d[1]));
  const V a12 = Ops::fnma(c17_4, d[4], Ops::add(d[2], d[6]));
  const V b12 = Ops::fnma(c17_4, d[3], Ops::add(d[1], d[5]));
  t[1] = Ops::add(a12, b12);
  t[2] = Ops::sub(a12, b12);
  const V a34 = Ops::fnma(c5_4, d[4], Ops::fma(quarter, d[2], d[6]));
  const V b34 = Ops::fma(two, d[5], Ops::fnma(c5_2, d[3], Ops::mul(half, d[1])));
  t[3] = Ops::add(a34, b34);
  t[4] = Ops::sub(a34, b34);
  const V a56 = Ops::fnma(five, d[4], Ops::fma(four, d[2], d[6]));
  const V b56 = Ops::fma(half, d[5], Ops::fnma(c5_2, d[3], Ops::mul(two, d[1])));
  t[5] = Ops::add(a56, b56);
  t[6] = Ops::sub(a56, b56);
}

// out = A^T m for one tile's 8 transformed products. Points +-1, +-2, +-1/2 enter output j with
// weights (+-1)^j, (+-2)^j, (+-1/2)^j; point 0 only output 0 and infinity only output 5.
template <class Ops, class V = typename Ops::V>
inline void winogradOutputTransform(const V (&m)[kWinogradPoints], V (&out)[kWinogradOutputs]) {
  const V sum1 = Ops::add(m[1], m[2]), dif1 = Ops::sub(m[1], m[2]);
  const V sum2 = Ops::add(m[3], m[4]), dif2 = Ops::sub(m[3], m[4]);
  const V sumH = Ops::add(m[5], m[6]), difH = Ops::sub(m[5], m[6]);
  out[0] = Ops::add(Ops::add(m[0], sum1), Ops::add(sum2, sumH));
  out[1] = Ops::fma(Ops::splat(2.0f), dif2, Ops::fma(Ops::splat(0.5f), difH, dif1));
  out[2] = Ops::fma(Ops::splat(4.0f), sum2, Ops::fma(Ops::splat(0.25f), sumH, sum1));
  out[3] = Ops::fma(Ops::splat(8.0f), dif2, Ops::fma(Ops::splat(0.125f), difH, dif1));
  out[4] = Ops::fma(Ops::splat(16.0f), sum2, Ops::fma(Ops::splat(0.0625f), sumH, sum1));
  out[5] = Ops::add(Ops::fma(Ops::splat(32.0f), dif2, Ops::fma(Ops::splat(0.03125f), difH, dif1)), m[7]);
}

// Calls run(std::integral_constant<int, K>) for the layer's reduction length K (3 x its input
// channels), so each kernel is compiled for the four layer shapes e1..e6 have.
template <class Run>
inline void dispatchWinogradReduction(const ConvRowArgs& args, Run run) {
  int reduction = 0;
  for (int s = 0; s < args.sourceCount; ++s) reduction += 3 * args.sources[s].channels;
  FLWNET_CHECK(args.outputLanes == kLanes, "the Winograd kernel computes 16 outputs");
  switch (reduction) {
    case 12: return run(std::integral_constant<int, 12>{});
    case 48: return run(std::integral_constant<int, 48>{});
    case 60: return run(std::integral_constant<int, 60>{});
    case 96: return run(std::integral_constant<int, 96>{});
    default: FLWNET_CHECK(false, "no Winograd kernel for this layer's input channels");
  }
}

}  // namespace
}  // namespace flwnet::cpu
