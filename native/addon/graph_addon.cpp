// The network graph and every backend's local-branch schedule as plain JS objects:
//   networkGraph()            the tables of core/network_graph.h (bench/network_graph.json is this)
//   localSchedules()          { cpu, cudaFrames, cudaStream, cudnn }: { bufferChannels, layers }
//   checkLocalSchedule(s)     runs checkScheduleAgainstGraph on `s` (throws ERR_FLWNET_INTERNAL)
// so the tests can hold each schedule to the graph and prove the check refuses wrong ones.
#include <napi.h>

#include <string>
#include <vector>

#include "addon/async_task.h"
#include "core/error.h"
#include "core/network_schedule.h"
#include "cpu/local_schedule.h"
#include "cuda/cudnn/cudnn_schedule.h"
#include "cuda/fused/local_schedules.h"
#include "modules.h"

namespace flwnet::addon {
namespace {

constexpr const char* kTensorKeys[kTensorCount] = {"imageMinusHalfCoarse", "halfCoarse", "image", "retouched", "x1",
                                                   "x2", "x3", "x4", "x5", "x6", "x7"};

const char* activationName(Activation a) {
  switch (a) {
    case Activation::LeakyRelu: return "leakyRelu";
    case Activation::Softplus: return "softplus";
    case Activation::None: break;
  }
  return "none";
}

const char* denseInputName(DenseInput input) {
  switch (input) {
    case DenseInput::Features: return "features";
    case DenseInput::Previous: return "previous";
    case DenseInput::PreviousThenFeatures: return "previousThenFeatures";
  }
  return "features";
}

Napi::Value networkGraph(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object graph = Napi::Object::New(env);
  Napi::Array tensors = Napi::Array::New(env, kTensorCount);
  for (int t = 0; t < kTensorCount; ++t) {
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", kTensorKeys[t]);
    entry.Set("channels", tensorChannels(static_cast<Tensor>(t)));
    tensors.Set(static_cast<uint32_t>(t), entry);
  }
  graph.Set("tensors", tensors);
  Napi::Array local = Napi::Array::New(env, kLocalGraph.size());
  for (size_t l = 0; l < kLocalGraph.size(); ++l) {
    const ConvLayer& layer = kLocalGraph[l];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", layer.name);
    Napi::Array inputs = Napi::Array::New(env, layer.inputCount);
    for (int i = 0; i < layer.inputCount; ++i) inputs.Set(static_cast<uint32_t>(i), kTensorKeys[static_cast<int>(layer.inputs[i])]);
    entry.Set("inputs", inputs);
    entry.Set("cin", layer.cin);
    entry.Set("cout", layer.cout);
    entry.Set("dilation", layer.dilation);
    entry.Set("activation", activationName(layer.activation));
    entry.Set("output", kTensorKeys[static_cast<int>(layer.output)]);
    local.Set(static_cast<uint32_t>(l), entry);
  }
  graph.Set("local", local);
  Napi::Array global = Napi::Array::New(env, kGlobalGraph.size());
  for (size_t l = 0; l < kGlobalGraph.size(); ++l) {
    const DenseLayer& layer = kGlobalGraph[l];
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", layer.name);
    entry.Set("input", denseInputName(layer.input));
    entry.Set("cin", layer.cin);
    entry.Set("cout", layer.cout);
    entry.Set("activation", activationName(layer.activation));
    global.Set(static_cast<uint32_t>(l), entry);
  }
  graph.Set("global", global);
  graph.Set("enhancedChannels", kEnhancedChannels);
  return graph;
}

Napi::Object sliceToJs(Napi::Env env, const BufferSlice& slice) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("buffer", slice.buffer);
  out.Set("channel", slice.channelOffset);
  return out;
}

Napi::Object scheduleToJs(Napi::Env env, const LocalSchedule& schedule, const int* channels, size_t count) {
  Napi::Object out = Napi::Object::New(env);
  Napi::Array widths = Napi::Array::New(env, count);
  for (size_t b = 0; b < count; ++b) widths.Set(static_cast<uint32_t>(b), channels[b]);
  out.Set("bufferChannels", widths);
  Napi::Array layers = Napi::Array::New(env, schedule.size());
  for (size_t l = 0; l < schedule.size(); ++l) {
    const ScheduledLayer& s = schedule[l];
    Napi::Object layer = Napi::Object::New(env);
    Napi::Array inputs = Napi::Array::New(env, s.inputCount);
    for (int i = 0; i < s.inputCount; ++i) {
      Napi::Object input = sliceToJs(env, s.inputs[i].at);
      input.Set("tensor", kTensorKeys[static_cast<int>(s.inputs[i].tensor)]);
      inputs.Set(static_cast<uint32_t>(i), input);
    }
    layer.Set("inputs", inputs);
    layer.Set("dilation", s.dilation);
    layer.Set("activation", activationName(s.activation));
    layer.Set("output", sliceToJs(env, s.output));
    if (s.copy.buffer != kNoBuffer) layer.Set("copy", sliceToJs(env, s.copy));
    layers.Set(static_cast<uint32_t>(l), layer);
  }
  out.Set("layers", layers);
  return out;
}

Napi::Value localSchedules(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("cpu", scheduleToJs(env, cpu::kCpuSchedule, cpu::kRingChannels.data(), cpu::kRingChannels.size()));
  out.Set("cudaFrames", scheduleToJs(env, cuda::kFrameSchedule, cuda::kFrameChannels.data(), cuda::kFrameChannels.size()));
  out.Set("cudaStream",
          scheduleToJs(env, cuda::kStreamSchedule, cuda::kStreamRingChannels.data(), cuda::kStreamRingChannels.size()));
  out.Set("cudnn", scheduleToJs(env, cudnn::kCudnnSchedule, cudnn::kBandBufferChannels.data(),
                                cudnn::kBandBufferChannels.size()));
  return out;
}

int intField(Napi::Env env, Napi::Object object, const char* key) {
  Napi::Value value = object.Get(key);
  if (!value.IsNumber()) throwInvalid(env, std::string("schedule field ") + key + " must be a number");
  return value.As<Napi::Number>().Int32Value();
}

BufferSlice sliceFromJs(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throwInvalid(env, "a buffer slice must be an object { buffer, channel }");
  Napi::Object object = value.As<Napi::Object>();
  return BufferSlice{intField(env, object, "buffer"), intField(env, object, "channel")};
}

Tensor tensorFromJs(Napi::Env env, Napi::Value value) {
  const std::string name = value.ToString().Utf8Value();
  for (int t = 0; t < kTensorCount; ++t) {
    if (name == kTensorKeys[t]) return static_cast<Tensor>(t);
  }
  throwInvalid(env, "unknown tensor '" + name + "'");
  return Tensor::X1;
}

Activation activationFromJs(Napi::Value value) {
  const std::string name = value.ToString().Utf8Value();
  if (name == "leakyRelu") return Activation::LeakyRelu;
  if (name == "softplus") return Activation::Softplus;
  return Activation::None;
}

ScheduledLayer layerFromJs(Napi::Env env, Napi::Object object) {
  ScheduledLayer layer{};
  Napi::Value inputs = object.Get("inputs");
  if (!inputs.IsArray()) throwInvalid(env, "schedule layer inputs must be an array");
  Napi::Array array = inputs.As<Napi::Array>();
  if (array.Length() > static_cast<uint32_t>(kMaxLayerInputs)) throwInvalid(env, "too many layer inputs");
  layer.inputCount = static_cast<int>(array.Length());
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value entry = array.Get(i);
    layer.inputs[i] = ScheduledInput{tensorFromJs(env, entry.As<Napi::Object>().Get("tensor")), sliceFromJs(env, entry)};
  }
  layer.dilation = intField(env, object, "dilation");
  layer.activation = activationFromJs(object.Get("activation"));
  layer.output = sliceFromJs(env, object.Get("output"));
  if (object.Has("copy")) layer.copy = sliceFromJs(env, object.Get("copy"));
  return layer;
}

Napi::Value checkLocalSchedule(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throwInvalid(env, "checkLocalSchedule(schedule: object)");
  Napi::Object schedule = info[0].As<Napi::Object>();
  Napi::Value layers = schedule.Get("layers");
  Napi::Value widths = schedule.Get("bufferChannels");
  if (!layers.IsArray() || !widths.IsArray()) throwInvalid(env, "a schedule has layers and bufferChannels arrays");
  LocalSchedule table{};
  Napi::Array layerArray = layers.As<Napi::Array>();
  if (layerArray.Length() != table.size()) throwInvalid(env, "a schedule has one entry per layer of the local branch");
  for (uint32_t l = 0; l < layerArray.Length(); ++l) {
    Napi::Value entry = layerArray.Get(l);
    if (!entry.IsObject()) throwInvalid(env, "a schedule layer must be an object");
    table[l] = layerFromJs(env, entry.As<Napi::Object>());
  }
  Napi::Array widthArray = widths.As<Napi::Array>();
  std::vector<int> channels(widthArray.Length());
  for (uint32_t b = 0; b < widthArray.Length(); ++b) channels[b] = widthArray.Get(b).ToNumber().Int32Value();
  try {
    checkScheduleAgainstGraph("given", table, channels.data(), channels.size());
  } catch (const std::exception& e) {
    throw toJsError(env, e);
  }
  return env.Undefined();
}

}  // namespace

void registerGraph(Napi::Env env, Napi::Object exports) {
  exports.Set("networkGraph", Napi::Function::New(env, networkGraph, "networkGraph"));
  exports.Set("localSchedules", Napi::Function::New(env, localSchedules, "localSchedules"));
  exports.Set("checkLocalSchedule", Napi::Function::New(env, checkLocalSchedule, "checkLocalSchedule"));
}

}  // namespace flwnet::addon
