// The global branch's level counting chosen by the cudaLevelCounts option (default:
// FLWNET_CUDA_LEVEL_COUNTS): the warp-aggregated kernel ('warp') must give the same features as the
// default ('shared') and as the CPU engine, bit for bit, on dark, bright, tiny, RGBA and random
// images, in both precisions; an unknown value is refused. Without a usable GPU every test is
// skipped with the reason in its title.
import test from 'ava';
import { Enhancer, InvalidOptionError } from 'flwnet';
import { weightsPath } from '../helpers/shared.mjs';
import { closeEngines, cpuEngine, gpuTest, randomImage } from './gpu-helpers.mjs';

test.after.always(closeEngines);

/** A fused engine counting levels with `cudaLevelCounts`. */
const countingEngine = (cudaLevelCounts, precision = 'exact') =>
  Enhancer.create({ weights: weightsPath, device: 'cuda:0', backend: 'fused', precision, cudaLevelCounts });

function flatImage(width, height, value, channels = 3) {
  return { data: new Uint8Array(width * height * channels).fill(value), width, height, channels };
}

const IMAGES = [
  ['dark 1920x1080', flatImage(1920, 1080, 2)],
  ['bright 640x480', flatImage(640, 480, 250)],
  ['1x1', flatImage(1, 1, 77)],
  ['RGBA 47x5', randomImage(47, 5, { seed: 5, channels: 4 })],
  ['random 1023x769', randomImage(1023, 769, { seed: 11 })],
  ['random 3840x2160', randomImage(3840, 2160, { seed: 12 })],
];

for (const precision of ['exact', 'fast']) {
  gpuTest(`warp-aggregated level counts give the same features as the default and the CPU (${precision})`, async (t) => {
    const shared = await countingEngine('shared', precision);
    const warp = await countingEngine('warp', precision);
    try {
      t.notRegex(shared.description, /warp level counts/);
      t.regex(warp.description, /warp level counts/);
      const cpu = await cpuEngine();
      for (const [label, image] of IMAGES) {
        const onCpu = await cpu.inspect(image, { exposure: 0.4 });
        const byShared = await shared.inspect(image, { exposure: 0.4 });
        const byWarp = await warp.inspect(image, { exposure: 0.4 });
        t.deepEqual(byWarp.features, byShared.features, `${label}: warp vs shared`);
        t.deepEqual(byWarp.features, onCpu.features, `${label}: warp vs CPU`);
      }
    } finally {
      await shared.close();
      await warp.close();
    }
  });
}

gpuTest('an unknown cudaLevelCounts is refused when the engine is created', async (t) => {
  const err = await t.throwsAsync(countingEngine('fastest'), { instanceOf: InvalidOptionError });
  t.regex(err.message, /cudaLevelCounts/);
  const saved = process.env.FLWNET_CUDA_LEVEL_COUNTS;
  process.env.FLWNET_CUDA_LEVEL_COUNTS = 'fastest';
  let pending;
  try {
    pending = countingEngine(undefined);
  } finally {
    if (saved === undefined) delete process.env.FLWNET_CUDA_LEVEL_COUNTS;
    else process.env.FLWNET_CUDA_LEVEL_COUNTS = saved;
  }
  const fromVariable = await t.throwsAsync(pending, { instanceOf: InvalidOptionError });
  t.regex(fromVariable.message, /FLWNET_CUDA_LEVEL_COUNTS/);
  const engine = await countingEngine('warp');
  try {
    const after = await engine.inspect(flatImage(8, 8, 9), { exposure: 0.4 });
    t.is(after.features.length, 15, 'a valid setting still opens an engine after the refusal');
  } finally {
    await engine.close();
  }
});
