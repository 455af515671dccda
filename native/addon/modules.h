// Each part of the addon registers its exports here; addon.cpp calls them in turn.
#pragma once
#include <napi.h>

#include "core/backend.h"

namespace flwnet::addon {

void registerEngine(Napi::Env env, Napi::Object exports);   // Engine class (engine_addon.cpp)
void registerDevices(Napi::Env env, Napi::Object exports);  // cudaInfo() (devices_addon.cpp)
void registerLosses(Napi::Env env, Napi::Object exports);   // losses and metrics (losses_addon.cpp)
void registerGraph(Napi::Env env, Napi::Object exports);    // network graph and schedules (graph_addon.cpp)
void registerTrainer(Napi::Env env, Napi::Object exports);  // Trainer, trainLossAndGradients (train_addon.cpp)

// Turns the current C++ exception (flwnet::Error, std::bad_alloc, std::exception) into a JS
// Error with `code`; for use in synchronous bindings' catch blocks.
Napi::Error toJsError(Napi::Env env, const std::exception& e);

// Reads options[key] ('auto', 'scalar', 'avx2' or 'avx512'; undefined = auto) as a CpuIsaSetting
// (engine_addon.cpp). The TS layer validates first; anything else is a TypeError here.
CpuIsaSetting cpuIsaProperty(Napi::Env env, Napi::Object options, const char* key);

}  // namespace flwnet::addon
