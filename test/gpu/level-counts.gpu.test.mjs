// The global branch's level counting chosen by FLWNET_CUDA_LEVEL_COUNTS (read at each launch):
// the warp-aggregated kernel ("warp") must give the same features as the default ("shared") and
// as the CPU engine, bit for bit, on dark, bright, tiny, RGBA and random images; an unknown value
// is refused. Without a usable GPU every test is skipped with the reason in its title.
import { closeEngines, cpuEngine, engineFor, gpuTest, randomImage } from './gpu-helpers.mjs';
import test from 'ava';

test.after.always(closeEngines);

/** Runs `fn` with FLWNET_CUDA_LEVEL_COUNTS set to `value`, restoring it afterwards. */
async function withVariant(value, fn) {
  const saved = process.env.FLWNET_CUDA_LEVEL_COUNTS;
  process.env.FLWNET_CUDA_LEVEL_COUNTS = value;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.FLWNET_CUDA_LEVEL_COUNTS;
    else process.env.FLWNET_CUDA_LEVEL_COUNTS = saved;
  }
}

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

gpuTest('warp-aggregated level counts give the same features as the default and the CPU', async (t) => {
  const gpu = await engineFor({ backend: 'fused', precision: 'exact' });
  const cpu = await cpuEngine();
  for (const [label, image] of IMAGES) {
    const onCpu = await cpu.inspect(image, { exposure: 0.4 });
    const shared = await withVariant('shared', () => gpu.inspect(image, { exposure: 0.4 }));
    const warp = await withVariant('warp', () => gpu.inspect(image, { exposure: 0.4 }));
    t.deepEqual(warp.features, shared.features, `${label}: warp vs shared`);
    t.deepEqual(warp.features, onCpu.features, `${label}: warp vs CPU`);
  }
});

gpuTest('an unknown FLWNET_CUDA_LEVEL_COUNTS is refused', async (t) => {
  const gpu = await engineFor({ backend: 'fused', precision: 'exact' });
  const err = await withVariant('fastest', () => t.throwsAsync(gpu.inspect(flatImage(8, 8, 9), { exposure: 0.4 })));
  t.regex(err.message, /FLWNET_CUDA_LEVEL_COUNTS/);
  t.is(typeof err.code, 'string');
  const after = await gpu.inspect(flatImage(8, 8, 9), { exposure: 0.4 });
  t.is(after.features.length, 15, 'the engine works after the refusal');
});
