// The stages both CPU schedules (tile_pipeline.h, block_pipeline.h) run a tile through, derived
// from the rings of local_schedule.h: stage 0 prepares e1's and e3's inputs, stages 1..6 run e1..e6
// (stage s writes ring s + 1), stage 7 runs e7 and writes the output row.
#pragma once
#include <array>

#include "local_schedule.h"

namespace flwnet::cpu {

// Stages: 0 = prepare the inputs, 1..6 = e1..e6 (writing ring stage + 1), 7 = e7 and the output.
constexpr int kStageCount = 8;
// How many pixels beyond the tile each stage must produce for the later layers.
constexpr std::array<int, kStageCount> kStageRadius = {9, 8, 7, 6, 4, 2, 1, 0};
constexpr int kMargin = 2;  // zero columns beyond the image that a dilation-2 tap may read
constexpr int kHalo = 9 + kMargin;

struct StageInput {
  int ring;
  int dilation;
};
struct StageInputs {
  int count;
  StageInput inputs[kMaxSources];
};
// Stage 0 prepares the rings of the derived inputs; stage s >= 1 runs layer s - 1 on its sources.
constexpr StageInputs stageInputsOf(int stage) {
  StageInputs in{0, {{0, 0}, {0, 0}}};
  if (stage == 0) return in;
  const LayerSources sources = layerSources(stage - 1);
  in.count = sources.count;
  for (int k = 0; k < sources.count; ++k) in.inputs[k] = StageInput{sources.sources[k].ring, kLocalGraph[stage - 1].dilation};
  return in;
}
constexpr std::array<StageInputs, kStageCount> kStageInputs = {{
    stageInputsOf(0), stageInputsOf(1), stageInputsOf(2), stageInputsOf(3),
    stageInputsOf(4), stageInputsOf(5), stageInputsOf(6), stageInputsOf(7),
}};
// Stage s (1..6) writes ring s + 1; the output stage reads ring 7 alone (computeConv, computeOutput).
constexpr bool stagesMatchRings() {
  for (int s = 1; s < kStageCount - 1; ++s) {
    if (ringPlacement(kLocalGraph[s - 1].output).buffer != s + 1) return false;
  }
  return kStageInputs[kStageCount - 1].count == 1 && kStageInputs[kStageCount - 1].inputs[0].ring == 7 &&
         ringPlacement(Tensor::ImageMinusHalfCoarse).buffer == 0 && ringPlacement(Tensor::Image).buffer == 1;
}
static_assert(stagesMatchRings(), "the CPU stages no longer match the rings of local_schedule.h");

// The stage that writes ring `ring`: stage 0 both input rings, stage s ring s + 1.
constexpr int producerOf(int ring) { return ring < 2 ? 0 : ring - 1; }

}  // namespace flwnet::cpu
