// A host model of one warp's mma.sync.m16n8k16 / ldmatrix.x4 / stmatrix.x4 as the PTX ISA defines
// them, over a byte-addressed shared memory of fp16 values. Every register a lane holds is placed
// by the fragment functions of native/cuda/mma/mma_layout.h, so an error there shows up as a wrong
// image; every ldmatrix/stmatrix phase (8 addresses) is checked for bank conflicts.
#pragma once
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cuda/mma/mma_layout.h"
#include "cuda/mma/mma_weights.h"

namespace mmaemu {

using namespace flwnet::mma;

// fp16 bits -> float, by table.
inline const std::vector<float>& halfTable() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (uint32_t i = 0; i < 65536; ++i) t[i] = floatFromHalf(static_cast<uint16_t>(i));
    return t;
  }();
  return table;
}
inline float lowHalf(uint32_t r) { return halfTable()[r & 0xffffu]; }
inline float highHalf(uint32_t r) { return halfTable()[r >> 16]; }
inline uint32_t packHalves(float lo, float hi) {
  return static_cast<uint32_t>(halfBits(lo)) | (static_cast<uint32_t>(halfBits(hi)) << 16);
}

using WarpRegs4 = std::array<std::array<uint32_t, 4>, 32>;  // four .b32 registers per lane
using WarpRegs2 = std::array<std::array<uint32_t, 2>, 32>;
using WarpAcc = std::array<std::array<float, 4>, 32>;      // one m16n8 fp32 accumulator

struct SharedMemory {
  std::vector<uint8_t> bytes = std::vector<uint8_t>(kSharedBytes, 0);
  long phases = 0;
  long conflictedPhases = 0;
  long misaligned = 0;

  uint32_t word(int byte) const {
    uint32_t w;
    std::memcpy(&w, &bytes.at(byte), 4);
    return w;
  }
  void setWord(int byte, uint32_t w) { std::memcpy(&bytes.at(byte), &w, 4); }

  // One phase: 8 lanes each address a 16-byte row. Distinct rows must fall in distinct bank quads
  // (identical rows are one broadcast access).
  void checkPhase(const int* address) {
    ++phases;
    bool conflict = false;
    for (int i = 0; i < 8; ++i) {
      misaligned += address[i] % 16 != 0 ? 1 : 0;
      for (int j = i + 1; j < 8; ++j)
        conflict |= address[i] != address[j] && bankOf(address[i]) / 4 == bankOf(address[j]) / 4;
    }
    conflictedPhases += conflict ? 1 : 0;
  }

  // ldmatrix.sync.aligned.m8n8.x4.shared.b16: lane l addresses row l % 8 of matrix l / 8; lane l
  // receives, in register m, row l / 4 of matrix m, columns 2 (l % 4) and 2 (l % 4) + 1.
  void ldmatrixX4(const std::array<int, 32>& address, WarpRegs4& out) {
    for (int m = 0; m < 4; ++m) checkPhase(&address[8 * m]);
    for (int lane = 0; lane < 32; ++lane)
      for (int m = 0; m < 4; ++m) {
        const Element e = matrixElement(lane, 0);
        out[lane][m] = word(address[8 * m + e.row] + 2 * e.col);
      }
  }

  // stmatrix.sync.aligned.m8n8.x4.shared.b16: the inverse of ldmatrixX4.
  void stmatrixX4(const std::array<int, 32>& address, const WarpRegs4& in) {
    for (int m = 0; m < 4; ++m) checkPhase(&address[8 * m]);
    for (int lane = 0; lane < 32; ++lane)
      for (int m = 0; m < 4; ++m) {
        const Element e = matrixElement(lane, 0);
        setWord(address[8 * m + e.row] + 2 * e.col, in[lane][m]);
      }
  }
};

// Operands of mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 gathered from the lanes'
// registers by the fragment layouts (A once per ldmatrix, B once per weight group: the
// instruction reads the same registers each time).
struct MatrixA {
  float v[16][16];
};
struct MatrixB {
  float v[16][8];
};
inline void gatherA(const WarpRegs4& a, MatrixA& out) {
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 8; ++i) {
      const Element e = aElement(lane, i);
      out.v[e.row][e.col] = (i & 1) ? highHalf(a[lane][i >> 1]) : lowHalf(a[lane][i >> 1]);
    }
}
inline void gatherB(const WarpRegs2& b, MatrixB& out) {
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const Element e = bElement(lane, i);
      out.v[e.row][e.col] = (i & 1) ? highHalf(b[lane][i >> 1]) : lowHalf(b[lane][i >> 1]);
    }
}

// d += A B with the accumulator in the lanes' C fragments; products and sums in fp32, k in order.
inline void mma16816(WarpAcc& d, const MatrixA& a, const MatrixB& b) {
  float D[16][8];
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const Element e = cElement(lane, i);
      D[e.row][e.col] = d[lane][i];
    }
  for (int m = 0; m < 16; ++m)
    for (int k = 0; k < 16; ++k) {
      const float av = a.v[m][k];
      for (int n = 0; n < 8; ++n) D[m][n] += av * b.v[k][n];
    }
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < 4; ++i) {
      const Element e = cElement(lane, i);
      d[lane][i] = D[e.row][e.col];
    }
}

}  // namespace mmaemu
