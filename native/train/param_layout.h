// Where each layer's weights and bias sit in the packed parameter vector (the order of
// lib/weights FLWNET_WEIGHT_SCHEMA), derived from the graph tables.
#pragma once
#include <cstddef>

#include "core/model.h"
#include "core/network_graph.h"

namespace flwnet::train {

struct ParamSlice {
  size_t weight;  // offset of [cout][cin][3][3] (conv) or [cout][cin] (dense)
  size_t bias;    // offset of [cout]
};

constexpr ParamSlice convParams(int layer) {
  size_t offset = 0;
  for (int l = 0; l < layer; ++l) offset += size_t(kLocalGraph[l].cout) * (kLocalGraph[l].cin * 9 + 1);
  return {offset, offset + size_t(kLocalGraph[layer].cout) * kLocalGraph[layer].cin * 9};
}

constexpr ParamSlice denseParams(int layer) {
  size_t offset = convParams(kConvLayers - 1).bias + kLocalGraph[kConvLayers - 1].cout;
  for (int l = 0; l < layer; ++l) offset += size_t(kGlobalGraph[l].cout) * (kGlobalGraph[l].cin + 1);
  return {offset, offset + size_t(kGlobalGraph[layer].cout) * kGlobalGraph[layer].cin};
}

static_assert(denseParams(kDenseLayers - 1).bias + kGlobalGraph[kDenseLayers - 1].cout == kParamCount,
              "the graph tables and kParamCount disagree");

}  // namespace flwnet::train
