// Host emulation of the mma.sync local-branch kernel (native/cuda/mma/local_mma.cu): the same
// streaming schedule, ring layout, swizzle, fragment ownership and weight packing (all from
// mma_layout.h / mma_weights.h), with fp16 rounding of activations and weights and fp32
// accumulation, run on the CPU block by block and warp by warp. It validates the weight packing
// and the fragment layouts without a GPU and predicts the fast kernel's accuracy on the fixtures.
//   mma_emulation WEIGHTS.f32 FIXTURES_DIR [--json OUT] [CASE...]
// Prints one line per check; exits 1 when any check fails.
#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <dirent.h>
#include <string>
#include <vector>

#include "core/coarse_brightness.h"
#include "core/global_branch.h"
#include "core/model.h"
#include "gpu_check_support.h"
#include "mma_emulation.h"

namespace mmaemu {
namespace {

constexpr int kConcurrentBlocks = 132 * 2;  // an H100/H200: 132 SMs, two blocks each

// ---- Layout self-checks ---------------------------------------------------------------------------
// Each fragment layout must give every matrix element to exactly one (lane, element).
template <typename F>
bool coversOnce(int rows, int cols, int perLane, F element) {
  std::vector<int> hits(rows * cols, 0);
  for (int lane = 0; lane < 32; ++lane)
    for (int i = 0; i < perLane; ++i) {
      const Element e = element(lane, i);
      if (e.row < 0 || e.row >= rows || e.col < 0 || e.col >= cols) return false;
      ++hits[e.row * cols + e.col];
    }
  return std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; });
}

// ldmatrix.x4 over the tile's four matrices must deliver exactly the A fragment, and stmatrix.x4
// of the two accumulators (registers ordered as the kernel passes them) must store each C element
// at its pixel and channel.
bool ldmatrixMatchesFragments() {
  for (int lane = 0; lane < 32; ++lane)
    for (int m = 0; m < 4; ++m)
      for (int j = 0; j < 2; ++j) {
        const Element e = matrixElement(lane, j);
        const int pixel = tilePixelOfMatrixRow(m, e.row);
        const int channel = 8 * tileChunkOfMatrix(m) + e.col;
        const Element a = aElement(lane, 2 * m + j);
        if (a.row != pixel || a.col != channel) return false;
        // stmatrix register m = 2 n + half carries accumulator n's elements 2 half + j.
        const int n = m >> 1, half = m & 1;
        const Element c = cElement(lane, 2 * half + j);
        if (c.row != pixel || n * 8 + c.col != channel)
          return false;
      }
  return true;
}

// The bank check is not vacuous: eight consecutive pixels of one chunk conflict without the swizzle
// (pixels p and p + 4 share banks) and never with it, whatever the first column.
bool swizzleRemovesConflicts() {
  for (int first = 0; first + 8 <= kStripColumns; ++first)
    for (int chunk = 0; chunk < 2; ++chunk) {
      SharedMemory plain, swizzled;
      int plainAddress[8], swizzledAddress[8];
      for (int i = 0; i < 8; ++i) {
        plainAddress[i] = (first + i) * kChannels * 2 + chunk * 16;
        swizzledAddress[i] = chunkByteOffset(0, first + i, chunk);
      }
      plain.checkPhase(plainAddress);
      swizzled.checkPhase(swizzledAddress);
      if (plain.conflictedPhases != 1 || swizzled.conflictedPhases != 0) return false;
    }
  return true;
}

// The packed weights hold each (group, tap) 16 x 16 matrix exactly once.
bool packingCoversOnce() {
  for (int g = 0; g < kWeightGroups; ++g)
    for (int tap = 0; tap < 9; ++tap) {
      std::vector<int> hits(256, 0);
      for (int lane = 0; lane < 32; ++lane)
        for (int nHalf = 0; nHalf < 2; ++nHalf)
          for (int i = 0; i < 4; ++i) {
            const Element e = bElement(lane, i);
            ++hits[e.row * 16 + nHalf * 8 + e.col];
            const int index = packedIndex(g, tap, lane, nHalf, i);
            if (index < 0 || index >= kPackedHalves) return false;
          }
      if (!std::all_of(hits.begin(), hits.end(), [](int h) { return h == 1; })) return false;
    }
  return true;
}

// ---- The kernel's schedule ---------------------------------------------------------------------------
struct Image {
  const gpucheck::Fixture* fixture;
  std::vector<float> coarse;     // cellsY x cellsX, float as the device holds it
  int cellsX = 1, cellsY = 1;
  std::array<float, flwnet::kLevels> retouch{};
  std::vector<float> output;     // RGB float
};

struct Block {
  Image* image;
  const std::vector<uint16_t>* weights;
  const std::vector<float>* biases;  // 7 x 16
  int x0 = 0, y0 = 0, segmentEnd = 0, inputTop = 0;
  SharedMemory shared;
  std::vector<int> rowTag = std::vector<int>(kRingRows, INT_MIN);  // image row each ring row holds
  long hazards = 0;  // reads, by rows the segment's outputs need, of a ring row holding another row
};

bool inside(const Block& b, int x, int y) {
  return x >= 0 && y >= 0 && x < b.image->fixture->width && y < b.image->fixture->height;
}
// The schedule's constexpr functions, tabulated once (they loop over the graph when evaluated).
struct ScheduleTables {
  int lag[kLayers + 1];
  int depth[kLayers];
  int first[kLayers];
  ScheduleTables() {
    for (int k = 0; k <= kLayers; ++k) lag[k] = lagOf(k);
    for (int j = 0; j < kLayers; ++j) {
      depth[j] = ringDepthOf(j);
      first[j] = ringFirstRowOf(j);
    }
  }
};
const ScheduleTables kTables;
int ringRowOf(int ring, int y) { return kTables.first[ring] + wrapRow(y, kTables.depth[ring]); }
bool rowNeeded(const Block& b, int k, int y) {
  const int margin = kHalo - kTables.lag[k];
  return y >= b.y0 - margin && y <= b.segmentEnd - 1 + margin;
}
bool rowsNeeded(const Block& b, int k) {
  const int top = b.inputTop - kTables.lag[k];
  const int margin = kHalo - kTables.lag[k];
  return top + kStepRows - 1 >= b.y0 - margin && top <= b.segmentEnd - 1 + margin;
}
int tileRow(int warp, int t) { return warp / kColumnTiles + t * (kWarps / kColumnTiles); }
int tileColumn(int warp) { return warp % kColumnTiles; }
int addressColumn(int warp, int lane) {
  return tileColumn(warp) * 16 + tilePixelOfMatrixRow(addressMatrix(lane), addressRow(lane));
}

// Staging as stageRows: [x - Vc/2, Vc/2, x, r] in fp16, the kernel's float arithmetic.
void stageRows(Block& b) {
  const gpucheck::Fixture& f = *b.image->fixture;
  for (int thread = 0; thread < kThreads; ++thread) {
    const int gy = b.inputTop + thread / kStripColumns, column = thread % kStripColumns;
    const int gx = b.x0 - kHalo + column;
    float v[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    if (inside(b, gx, gy)) {
      const uint8_t* px = &f.input[(static_cast<size_t>(gy) * f.width + gx) * 3];
      const flwnet::AxisTap ty = flwnet::bilinearTap(gy, b.image->cellsY, 1.0 / flwnet::kCoarseScale);
      const flwnet::AxisTap tx = flwnet::bilinearTap(gx, b.image->cellsX, 1.0 / flwnet::kCoarseScale);
      const float fty = static_cast<float>(ty.t), ftx = static_cast<float>(tx.t);
      const float* r0 = &b.image->coarse[ty.i0 * b.image->cellsX];
      const float* r1 = &b.image->coarse[ty.i1 * b.image->cellsX];
      const float top = (1.0f - ftx) * r0[tx.i0] + ftx * r0[tx.i1];
      const float bottom = (1.0f - ftx) * r1[tx.i0] + ftx * r1[tx.i1];
      const float halfVc = 0.5f * ((1.0f - fty) * top + fty * bottom);
      for (int c = 0; c < 3; ++c) {
        v[c] = px[c] / 255.0f - halfVc;
        v[4 + c] = px[c] / 255.0f;
      }
      v[3] = halfVc;
      v[7] = b.image->retouch[std::max({px[0], px[1], px[2]})];
    }
    const int row = ringRowOf(0, gy);
    for (int w = 0; w < 4; ++w) b.shared.setWord(chunkByteOffset(row, column, 0) + 4 * w, packHalves(v[2 * w], v[2 * w + 1]));
    for (int w = 0; w < 4; ++w) b.shared.setWord(chunkByteOffset(row, column, 1) + 4 * w, 0);
    b.rowTag[row] = gy;
  }
}

using TileAcc = std::array<WarpAcc, 2>;  // N halves

void accumulateGroup(Block& b, int g, int warp, int top, std::array<TileAcc, kTilesPerWarp>& acc, int halves) {
  const WeightGroup group = kGroups[g];
  const int d = dilationOf(group.layer);
  MatrixB bMatrix[9][2];
  for (int tap = 0; tap < 9; ++tap)
    for (int n = 0; n < 2; ++n) {
      WarpRegs2 regs;  // what the kernel's 16-byte load per lane and tap puts in b[tap]
      for (int lane = 0; lane < 32; ++lane)
        for (int r = 0; r < 2; ++r) {
          const uint16_t* h = &(*b.weights)[packedIndex(g, tap, lane, n, 2 * r)];
          regs[lane][r] = static_cast<uint32_t>(h[0]) | (static_cast<uint32_t>(h[1]) << 16);
        }
      gatherB(regs, bMatrix[tap][n]);
    }
  for (int t = 0; t < kTilesPerWarp; ++t) {
    const int y = top + tileRow(warp, t);
    for (int ky = 0; ky < 3; ++ky) {
      const int source = y + (ky - 1) * d;
      const int tag = b.rowTag[ringRowOf(group.ring, source)];
      if (rowNeeded(b, group.layer, y) && y >= 0 && y < b.image->fixture->height && tag != source) ++b.hazards;
    }
    for (int tap = 0; tap < 9; ++tap) {
      std::array<int, 32> address;
      for (int lane = 0; lane < 32; ++lane) {
        const int column = std::clamp(addressColumn(warp, lane) + (tap % 3 - 1) * d, 0, kStripColumns - 1);
        address[lane] = chunkByteOffset(ringRowOf(group.ring, y + (tap / 3 - 1) * d), column,
                                        tileChunkOfMatrix(addressMatrix(lane)));
      }
      WarpRegs4 a;
      b.shared.ldmatrixX4(address, a);
      MatrixA aMatrix;
      gatherA(a, aMatrix);
      for (int n = 0; n < halves; ++n) mma16816(acc[t][n], aMatrix, bMatrix[tap][n]);
    }
  }
}

float leaky(float v) { return v > 0.0f ? v : flwnet::kLeakySlope * v; }
float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }

void storeActivations(Block& b, int k, int warp, int top, const std::array<TileAcc, kTilesPerWarp>& acc) {
  for (int t = 0; t < kTilesPerWarp; ++t) {
    const int y = top + tileRow(warp, t);
    WarpRegs4 regs;
    std::array<int, 32> address;
    for (int lane = 0; lane < 32; ++lane) {
      for (int half = 0; half < 2; ++half) {
        const int gx = b.x0 - kHalo + tileColumn(warp) * 16 + groupOf(lane) + 8 * half;
        const bool in = inside(b, gx, y);
        for (int n = 0; n < 2; ++n) {
          const float v0 = in ? leaky(acc[t][n][lane][2 * half]) : 0.0f;
          const float v1 = in ? leaky(acc[t][n][lane][2 * half + 1]) : 0.0f;
          regs[lane][2 * n + half] = packHalves(v0, v1);
        }
      }
      address[lane] = chunkByteOffset(ringRowOf(k, y), addressColumn(warp, lane), tileChunkOfMatrix(addressMatrix(lane)));
    }
    b.shared.stmatrixX4(address, regs);
    b.rowTag[ringRowOf(k, y)] = y;
  }
}

void storeImage(Block& b, int warp, int top, const std::array<TileAcc, kTilesPerWarp>& acc) {
  const gpucheck::Fixture& f = *b.image->fixture;
  for (int t = 0; t < kTilesPerWarp; ++t) {
    const int y = top + tileRow(warp, t);
    for (int lane = 0; lane < 32; lane += 4)  // lanes with threadInGroup 0; channel 2 from lane + 1
      for (int half = 0; half < 2; ++half) {
        const int column = tileColumn(warp) * 16 + groupOf(lane) + 8 * half;
        const int gx = b.x0 - kHalo + column;
        if (column < kHalo || column >= kHalo + kOutColumns || y < b.y0 || y >= b.segmentEnd || !inside(b, gx, y)) continue;
        float* out = &b.image->output[(static_cast<size_t>(y) * f.width + gx) * 3];
        out[0] = softplus(acc[t][0][lane][2 * half]);
        out[1] = softplus(acc[t][0][lane][2 * half + 1]);
        out[2] = softplus(acc[t][0][lane + 1][2 * half]);
      }
  }
}

void layerStep(Block& b, int k) {
  if (!rowsNeeded(b, k)) return;
  const int top = b.inputTop - kTables.lag[k];
  const int halves = k == kLayers ? 1 : 2;
  for (int warp = 0; warp < kWarps; ++warp) {
    std::array<TileAcc, kTilesPerWarp> acc;
    for (auto& tile : acc)
      for (int n = 0; n < 2; ++n)
        for (int lane = 0; lane < 32; ++lane)
          for (int i = 0; i < 4; ++i) tile[n][lane][i] = (*b.biases)[(k - 1) * 16 + n * 8 + cElement(lane, i).col];
    for (int g = firstGroupOf(k); g < firstGroupOf(k) + groupCountOf(k); ++g) accumulateGroup(b, g, warp, top, acc, halves);
    if (k == kLayers) {
      storeImage(b, warp, top, acc);
    } else {
      storeActivations(b, k, warp, top, acc);
    }
  }
}

// The segment height local_mma.cu's launcher picks for one image on kConcurrentBlocks blocks.
int chooseSegmentRows(int width, int height) {
  int best = kStepRows;
  long long bestCost = LLONG_MAX;
  for (int rows = kStepRows; rows < height + kStepRows; rows += kStepRows) {
    const long long blocks = static_cast<long long>((width + kOutColumns - 1) / kOutColumns) * ((height + rows - 1) / rows);
    const long long cost = (blocks + kConcurrentBlocks - 1) / kConcurrentBlocks * ((rows + 2 * kHalo + kStepRows - 1) / kStepRows);
    if (cost <= bestCost) {
      bestCost = cost;
      best = rows;
    }
  }
  return best;
}

struct Totals {
  long phases = 0, conflicted = 0, misaligned = 0, hazards = 0;
};

// Runs every block of the kernel's grid over the fixture; returns the float RGB output.
std::vector<float> emulateImage(const gpucheck::Fixture& f, const flwnet::ModelWeights& w,
                                const std::vector<uint16_t>& packed, const std::vector<float>& biases, Totals& totals,
                                int& segmentRows) {
  const flwnet::ImageU8 view{f.input.data(), f.width, f.height, 3};
  const flwnet::GlobalFeatures features = flwnet::featuresFromLevelCounts(flwnet::countVLevels(view), f.exposure);
  Image image;
  image.fixture = &f;
  image.retouch = flwnet::retouchTable(flwnet::curveFromFeatures(w, features));
  const flwnet::CoarseBrightness coarse = flwnet::computeCoarseBrightness(view);
  image.cellsX = coarse.cellsX;
  image.cellsY = coarse.cellsY;
  for (double c : coarse.cells) image.coarse.push_back(static_cast<float>(c));
  image.output.assign(static_cast<size_t>(f.width) * f.height * 3, NAN);
  segmentRows = chooseSegmentRows(f.width, f.height);
  for (int x0 = 0; x0 < f.width; x0 += kOutColumns)
    for (int y0 = 0; y0 < f.height; y0 += segmentRows) {
      Block b;
      b.image = &image;
      b.weights = &packed;
      b.biases = &biases;
      b.x0 = x0;
      b.y0 = y0;
      b.segmentEnd = std::min(y0 + segmentRows, f.height);
      for (b.inputTop = y0 - kHalo; b.inputTop - lagOf(kLayers) < b.segmentEnd; b.inputTop += kStepRows) {
        if (rowsNeeded(b, 0)) stageRows(b);
        for (int k = 1; k <= kLayers; ++k) layerStep(b, k);
      }
      totals.phases += b.shared.phases;
      totals.conflicted += b.shared.conflictedPhases;
      totals.misaligned += b.shared.misaligned;
      totals.hazards += b.hazards;
    }
  return image.output;
}

std::vector<std::string> caseNames(const std::string& dir) {
  std::vector<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (const dirent* e = readdir(d))
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

int run(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: mma_emulation WEIGHTS.f32 FIXTURES_DIR [--json OUT] [CASE...]\n");
    return 2;
  }
  std::string jsonPath;
  std::vector<std::string> cases;
  for (int i = 3; i < argc; ++i) {
    if (std::string(argv[i]) == "--json" && i + 1 < argc) {
      jsonPath = argv[++i];
    } else {
      cases.push_back(argv[i]);
    }
  }
  if (cases.empty()) cases = caseNames(argv[2]);
  const std::vector<uint8_t> raw = gpucheck::readFile(argv[1]);
  const flwnet::ModelWeights weights(reinterpret_cast<const float*>(raw.data()), raw.size() / sizeof(float));
  const std::vector<uint16_t> packed = packMmaWeights(weights);
  std::vector<float> biases(kLayers * 16, 0.0f);
  for (int k = 0; k < kLayers; ++k)
    for (int o = 0; o < weights.conv(k).spec.cout; ++o) biases[k * 16 + o] = weights.conv(k).bias[o];

  gpucheck::Log log;
  log.check("A, B and C fragments each cover their matrix once", coversOnce(16, 16, 8, aElement) &&
            coversOnce(16, 8, 4, bElement) && coversOnce(16, 8, 4, cElement), "m16n8k16, PTX ISA layouts");
  log.check("ldmatrix/stmatrix .x4 registers are the A and C fragments", ldmatrixMatchesFragments(), "4 matrices x 32 lanes");
  log.check("the swizzle removes the 2-way bank conflicts of plain 32-byte pixels", swizzleRemovesConflicts(),
            "every start column, both chunks");
  log.check("packed weights hold each tap's 16x16 B once", packingCoversOnce(),
            gpucheck::fmt("%.0f groups x 9 taps, %.0f halves", kWeightGroups, kPackedHalves));
  std::string results = "[";
  for (const std::string& name : cases) {
    const gpucheck::Fixture f = gpucheck::loadFixture(std::string(argv[2]) + "/" + name, name);
    Totals totals;
    int segmentRows = 0;
    const std::vector<float> out = emulateImage(f, weights, packed, biases, totals, segmentRows);
    const size_t pixels = static_cast<size_t>(f.width) * f.height;
    const size_t unwritten = std::count_if(out.begin(), out.end(), [](float v) { return std::isnan(v); });
    const gpucheck::Diff diff = gpucheck::compareFloat(out.data(), f.expected.data(), pixels, 3);
    int u8Max = 0;
    for (size_t i = 0; i < out.size(); ++i) u8Max = std::max(u8Max, std::abs(gpucheck::toU8(out[i]) - gpucheck::toU8(f.expected[i])));
    log.check(name + ": every output written", unwritten == 0, gpucheck::fmt("%.0f of %.0f values unwritten", unwritten, out.size()));
    log.check(name + ": PSNR and 8-bit difference within the fast tolerance",
              diff.psnr >= f.fastMinPsnr && u8Max <= f.fastU8MaxAbs,
              gpucheck::fmt("PSNR %.2f dB (min %.0f), u8 max diff %.0f", diff.psnr, f.fastMinPsnr, u8Max) +
                  gpucheck::fmt(" (max %.0f), f32 max abs %.5f", f.fastU8MaxAbs, diff.maxAbs));
    log.check(name + ": ldmatrix/stmatrix phases conflict-free and aligned", totals.conflicted == 0 && totals.misaligned == 0,
              gpucheck::fmt("%.0f phases, %.0f with bank conflicts, %.0f misaligned", totals.phases, totals.conflicted,
                            totals.misaligned));
    log.check(name + ": rings hold every row a kept output reads", totals.hazards == 0,
              gpucheck::fmt("%.0f stale ring reads, segment %.0f rows", totals.hazards, segmentRows));
    char entry[256];
    std::snprintf(entry, sizeof entry, "%s{\"case\":\"%s\",\"psnr\":%.3f,\"u8MaxDiff\":%d,\"f32MaxAbs\":%.6f}",
                  results.size() > 1 ? "," : "", name.c_str(), diff.psnr, u8Max, diff.maxAbs);
    results += entry;
  }
  log.section("emulation", results + "]");
  if (!jsonPath.empty()) log.writeJson(jsonPath, "host emulation of local_mma.cu (mma.sync m16n8k16)");
  std::printf("%d checks, %d failed\n", log.checks(), log.failures());
  return log.failures() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace mmaemu

int main(int argc, char** argv) {
  try {
    return mmaemu::run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mma_emulation: %s\n", e.what());
    return 2;
  }
}
