// `npm run bench:kernel`: the AVX-512 2-D Winograd block kernel alone (bench/winograd2d_kernel.cpp,
// built with the system C++ compiler against native/cpu), nanoseconds per output pixel for each
// layer shape of e1..e6 with its rows in cache and cold. Prints the numbers and writes
// bench/results/winograd2d-kernel.json. FLWNET_BENCH_WIDTH (default 330, a 320-column strip and its
// halo) and FLWNET_BENCH_SECONDS (per shape and case, default 2) adjust the run. It also reports
// what one 512-bit store costs in FMA slots on this processor (storeCostInFmaSlots, from
// bench/fma_peak.cpp): the kernel stores about five vectors per output pixel.
import path from 'node:path';
import { buildAndRun } from './build-program.mjs';
import { measureStoreCost } from './fma-peak.mjs';
import { machineDescription, packageRoot, writeResult } from './common.mjs';

const width = Number(process.env.FLWNET_BENCH_WIDTH || 330);
const seconds = Number(process.env.FLWNET_BENCH_SECONDS || 2);
const native = path.join(packageRoot, 'native');
const isaFlags = ['-mavx512f', '-mavx512bw', '-mavx512dq', '-mavx512vl', '-mavx2', '-mfma', '-mf16c'];
const sources = ['bench/winograd2d_kernel.cpp', 'native/cpu/winograd2d_avx512.cpp', 'native/cpu/winograd2d_weights.cpp'];

const result = buildAndRun('winograd2d_kernel', sources.map((s) => path.join(packageRoot, s)), [`-I${native}`, `-I${path.join(native, 'cpu')}`, ...isaFlags], [width, seconds]);
if (result.skipped) {
  console.log(`skipped: ${result.skipped}`);
} else {
  let hot = 0;
  let cold = 0;
  for (const layer of result.layers) {
    const count = layer.layers.includes(',') ? 2 : 1;
    hot += count * layer.nsPerPixelInCache;
    cold += count * layer.nsPerPixelCold;
    console.log(`${layer.layers.padEnd(7)} K=${String(layer.inputChannels).padEnd(3)} d=${layer.dilation}: ${layer.nsPerPixelInCache.toFixed(1)} ns/pixel in cache, ${layer.nsPerPixelCold.toFixed(1)} cold`);
  }
  console.log(`e1..e6: ${hot.toFixed(0)} ns/pixel in cache, ${cold.toFixed(0)} cold (one thread)`);
  const store = measureStoreCost(Math.min(seconds, 1));
  console.log(store.skipped ? `store cost: ${store.skipped}` : `a 64-byte store among FMAs costs ${store.storeCostInFmaSlots.toFixed(2)} FMA slots`);
  writeResult('winograd2d-kernel.json', {
    benchmark: 'the AVX-512 2-D Winograd block kernel alone, one thread: ns per output pixel per layer shape, rows in cache and cold',
    machine: machineDescription(),
    date: new Date().toISOString(),
    ...result,
    storeCostInFmaSlots: store.skipped ? null : store.storeCostInFmaSlots,
    e1ToE6: { nsPerPixelInCache: hot, nsPerPixelCold: cold },
  });
}
