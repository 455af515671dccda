// The GPU engine under the conditions a server puts it in: device selection, many concurrent calls
// of mixed sizes, aborts mid-run, calls that fail (only they may fail), and close() with calls in
// flight. Without a usable GPU every test is skipped with the reason in its title.
import test from 'ava';
import { createRequire } from 'node:module';
import { AbortError, ClosedError, DeviceError, Enhancer, loadWeights, MAX_PIXELS_LIMIT } from 'flwnet';
import { compareF32 } from '../helpers/compare.mjs';
import { weightsPath } from '../helpers/shared.mjs';
import { agreeF32, bitEqual, closeEngines, cpuEngine, engineFor, gpu, gpuConfigs, gpuTest, randomImage } from './gpu-helpers.mjs';

const require = createRequire(import.meta.url);

test.after.always(closeEngines);

gpuTest("device 'auto' picks cuda:0 and says so", async (t) => {
  for (const device of ['auto', 'cuda']) {
    const enhancer = await Enhancer.create({ weights: weightsPath, device });
    try {
      t.is(enhancer.device, 'cuda:0', `device '${device}'`);
      t.log(`${device}: ${enhancer.description}`);
    } finally {
      await enhancer.close();
    }
  }
});

gpuTest("device 'cuda:99' is a DeviceError", async (t) => {
  for (const backend of gpu.cudnnCompiled ? ['fused', 'cudnn'] : ['fused']) {
    const err = await t.throwsAsync(Enhancer.create({ weights: weightsPath, device: 'cuda:99', backend }), { instanceOf: DeviceError });
    t.is(err.code, 'ERR_FLWNET_DEVICE');
    t.regex(err.message, /cuda:99/);
  }
});

const MIXED_SIZES = [
  [1, 1],
  [17, 3],
  [64, 64],
  [640, 480],
  [33, 65],
  [1023, 769],
  [320, 240],
  [1920, 1080],
];

function mixedRequests(count) {
  return Array.from({ length: count }, (_, i) => {
    const [width, height] = MIXED_SIZES[i % MIXED_SIZES.length];
    const image = randomImage(width, height, { seed: 100 + i, channels: i % 5 === 4 ? 4 : 3 });
    return { image, exposure: 0.3 + 0.05 * (i % 6) };
  });
}

for (const { backend, precision, label } of gpuConfigs().filter((c) => c.precision === 'exact')) {
  // The fused kernels compute each pixel the same way however calls are batched, so their results
  // must not change at all; cuDNN may pick other algorithms for other batch sizes.
  const sameAsSequential = backend === 'fused' ? 'bit for bit' : `within ${1e-4}`;
  gpuTest(`${label}: 64 concurrent calls of mixed sizes match sequential results ${sameAsSequential}`, async (t) => {
    const enhancer = await engineFor({ backend, precision });
    const requests = mixedRequests(64);
    const sequential = [];
    for (const { image, exposure } of requests) sequential.push((await enhancer.enhanceRaw(image, { exposure, output: 'float32' })).data);
    const concurrent = await Promise.all(requests.map(({ image, exposure }) => enhancer.enhanceRaw(image, { exposure, output: 'float32' })));
    const mismatched = [];
    concurrent.forEach((result, i) => {
      const same = backend === 'fused' ? bitEqual(result.data, sequential[i]) : compareF32(result.data, sequential[i]).maxAbs <= 1e-4;
      if (!same) mismatched.push(`#${i} ${requests[i].image.width}x${requests[i].image.height}: max |diff| ${compareF32(result.data, sequential[i]).maxAbs}`);
    });
    t.deepEqual(mismatched, []);
    t.is(enhancer.pending, 0);
  });
}

gpuTest('an abort mid-run rejects that call with AbortError before the run would have ended', async (t) => {
  const enhancer = await engineFor({ backend: 'fused', precision: 'exact' });
  const image = randomImage(12000, 8000, { seed: 5 });
  await enhancer.enhanceRaw(image); // warm-up: allocations sized for this image
  const begin = performance.now();
  await enhancer.enhanceRaw(image);
  const fullMs = performance.now() - begin;
  const controller = new AbortController();
  const started = performance.now();
  const call = enhancer.enhanceRaw(image, { signal: controller.signal });
  setTimeout(() => controller.abort(), fullMs / 4);
  const err = await t.throwsAsync(call, { instanceOf: AbortError });
  const abortedMs = performance.now() - started;
  t.is(err.code, 'ERR_FLWNET_ABORTED');
  t.log(`a full 12000x8000 run took ${fullMs.toFixed(1)} ms; the aborted one settled after ${abortedMs.toFixed(1)} ms`);
  t.true(abortedMs < fullMs * 0.85, `aborted after ${abortedMs.toFixed(1)} ms of a ${fullMs.toFixed(1)} ms run`);
  // The engine is unharmed: the next call gives the CPU's result.
  const small = randomImage(97, 61, { seed: 6 });
  const [after, onCpu] = await Promise.all([
    enhancer.enhanceRaw(small, { output: 'float32' }),
    (await cpuEngine()).enhanceRaw(small, { output: 'float32' }),
  ]);
  t.true(agreeF32('exact', after.data, onCpu.data).ok, 'result after the abort');
});

gpuTest('a request the engine rejects fails alone; concurrent and later calls succeed', async (t) => {
  // Deterministic failure inside the CUDA backend: an engine sized for 4096 pixels is given more.
  const { loadNative } = require('../../dist/native.js');
  const packed = (await loadWeights(weightsPath)).packed();
  const engine = new (loadNative().Engine)(packed, { device: 'cuda', deviceIndex: 0, precision: 'exact', cudnn: false, maxPixels: 4096 });
  const request = (image) => ({ ...image, exposure: 0.4, out: new Float32Array(image.data.length) });
  const run = async (r) => engine.enhance([r]); // a synchronous throw counts as a rejection too
  try {
    const good = [randomImage(64, 64, { seed: 7 }), randomImage(31, 17, { seed: 8 })].map(request);
    const bad = request(randomImage(128, 128, { seed: 9 }));
    const settled = await Promise.allSettled([run(good[0]), run(bad), run(good[1])]);
    t.is(settled[0].status, 'fulfilled', String(settled[0].reason));
    t.is(settled[1].status, 'rejected', 'the over-size request');
    t.regex(String(settled[1].reason?.code), /^ERR_FLWNET_/);
    t.is(settled[2].status, 'fulfilled', String(settled[2].reason));
    const later = request(randomImage(50, 40, { seed: 10 }));
    await engine.enhance([later]);
    const cpu = await cpuEngine();
    for (const r of [...good, later]) {
      const expected = await cpu.enhanceRaw({ data: r.data, width: r.width, height: r.height, channels: r.channels }, { output: 'float32' });
      t.true(agreeF32('exact', r.out, expected.data).ok, `${r.width}x${r.height}`);
    }
  } finally {
    engine.close();
  }
});

gpuTest('a 16384x16384 image either runs or fails alone with a memory/device error', async (t) => {
  // Whether 2^28 pixels fit depends on the GPU's memory, so both outcomes are accepted; what must
  // hold either way is that a concurrent small call and later calls are unaffected.
  const enhancer = await engineFor({ backend: 'fused', precision: 'exact', maxPixels: MAX_PIXELS_LIMIT });
  const side = 16384;
  const huge = { data: new Uint8Array(side * side * 3).fill(23), width: side, height: side, channels: 3 };
  const small = randomImage(200, 150, { seed: 11 });
  const [hugeResult, smallResult] = await Promise.allSettled([enhancer.enhanceRaw(huge), enhancer.enhanceRaw(small, { output: 'float32' })]);
  if (hugeResult.status === 'fulfilled') {
    t.is(hugeResult.value.data.length, huge.data.length);
    t.log(`16384x16384 fits on ${gpu.devices[0].name}: no deterministic out-of-memory here`);
  } else {
    t.regex(String(hugeResult.reason?.code), /^ERR_FLWNET_(OUT_OF_MEMORY|DEVICE)$/, String(hugeResult.reason));
    t.log(`16384x16384 was rejected: ${hugeResult.reason.message}`);
  }
  t.is(smallResult.status, 'fulfilled', String(smallResult.reason));
  const expected = await (await cpuEngine()).enhanceRaw(small, { output: 'float32' });
  t.true(agreeF32('exact', smallResult.value.data, expected.data).ok, 'the concurrent small call');
  const after = await enhancer.enhanceRaw(small, { output: 'float32' });
  t.true(agreeF32('exact', after.data, expected.data).ok, 'a call afterwards');
});

gpuTest('close() with calls in flight: each settles with its result or ClosedError', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cuda:0' });
  const images = Array.from({ length: 12 }, (_, i) => randomImage(1920, 1080, { seed: 20 + i }));
  const reference = await engineFor({ backend: 'fused', precision: 'exact' });
  const expected = await Promise.all(images.map((image) => reference.enhanceRaw(image)));
  const calls = images.map((image) => enhancer.enhanceRaw(image));
  await new Promise((resolve) => setImmediate(resolve));
  await enhancer.close();
  const settled = await Promise.allSettled(calls);
  let completed = 0;
  let closed = 0;
  settled.forEach((s, i) => {
    if (s.status === 'fulfilled') {
      completed++;
      t.true(bitEqual(s.value.data, expected[i].data), `call #${i} completed with the right pixels`);
    } else {
      closed++;
      t.true(s.reason instanceof ClosedError, `call #${i}: ${s.reason}`);
    }
  });
  t.log(`${completed} completed, ${closed} rejected with ClosedError`);
  await t.throwsAsync(enhancer.enhanceRaw(images[0]), { instanceOf: ClosedError });
});
