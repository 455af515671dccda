// The network graph stated once (native/core/network_graph.h): every backend's local-branch
// schedule agrees with it, the check refuses schedules that do not, and the PyTorch twin's JSON copy
// (bench/network_graph.json, written by scripts/export-graph.mjs) is current.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { loadNative } from '../dist/native.js';
import { packageRoot } from './helpers/shared.mjs';

const native = loadNative();
const clone = (value) => JSON.parse(JSON.stringify(value));

test('bench/network_graph.json is the graph the engine is built from', (t) => {
  const file = JSON.parse(fs.readFileSync(path.join(packageRoot, 'bench', 'network_graph.json'), 'utf8'));
  t.deepEqual(file, native.networkGraph(), 'run node scripts/export-graph.mjs after changing the graph');
});

test('the graph is the published FLW-Net: 7 convolutions, 5 dense layers, 17,373 parameters', (t) => {
  const graph = native.networkGraph();
  const params = graph.local.reduce((n, l) => n + l.cout * l.cin * 9 + l.cout, 0) + graph.global.reduce((n, l) => n + l.cout * l.cin + l.cout, 0);
  t.is(params, 17373);
  const channels = Object.fromEntries(graph.tensors.map((x) => [x.name, x.channels]));
  for (const layer of graph.local) t.is(layer.inputs.reduce((n, name) => n + channels[name], 0), layer.cin, layer.name);
  t.deepEqual(graph.local[2].inputs, ['x2', 'image', 'retouched']);
  t.deepEqual(graph.local[5].inputs, ['x3', 'x5']);
});

const schedules = native.localSchedules();

for (const [name, schedule] of Object.entries(schedules)) {
  test(`the ${name} schedule agrees with the graph`, (t) => {
    t.notThrows(() => native.checkLocalSchedule(schedule));
    t.deepEqual(schedule.layers.map((l) => l.inputs.map((i) => i.tensor)), native.networkGraph().local.map((l) => l.inputs));
  });
}

/** Each change makes a schedule wrong in one way the check must catch; `pattern` is the reason. */
const MUTATIONS = [
  ['e3 reads its inputs in another order', (s) => s.layers[2].inputs.reverse(), /input 0 is r, the graph's is x2/],
  ['e6 reads x5 twice', (s) => (s.layers[5].inputs[0] = { ...s.layers[5].inputs[1] }), /input 0 is x5/],
  ['e1 leaves out Vc/2', (s) => s.layers[0].inputs.pop(), /reads 1 inputs, the graph 2/],
  ['e4 runs at dilation 1', (s) => (s.layers[3].dilation = 1), /e_conv4: dilation 1, the graph's is 2/],
  ['e7 ends with LeakyReLU', (s) => (s.layers[6].activation = 'leakyRelu'), /e_conv7: activation/],
  ['e2 reads x1 from the wrong channel', (s) => (s.layers[1].inputs[0].channel += 4), /e_conv2: (reads x1 .*where it was not put|x1 lies outside)/],
  ['e2 writes x2 where e3 does not read it', (s) => (s.layers[1].output = { buffer: s.layers[1].output.buffer, channel: s.layers[1].output.channel + 1 }), /e_conv(2: (x2 lies outside|writes x2 over)|3: reads x2)/],
  ['e5 writes x5 over x3, which e6 still reads', (s) => (s.layers[4].output = { ...s.layers[5].inputs[0] }), /e_conv5: writes x5 over x3/],
  ['e3 reads r from outside its buffer', (s) => (s.layers[2].inputs[2].buffer = s.bufferChannels.length), /r lies outside buffer/],
];

for (const [name, schedule] of Object.entries(schedules)) {
  for (const [what, mutate, pattern] of MUTATIONS) {
    test(`the check refuses the ${name} schedule when ${what}`, (t) => {
      const wrong = clone(schedule);
      mutate(wrong);
      const err = t.throws(() => native.checkLocalSchedule(wrong));
      t.is(err.code, 'ERR_FLWNET_INTERNAL');
      t.regex(err.message, pattern);
    });
  }
}
