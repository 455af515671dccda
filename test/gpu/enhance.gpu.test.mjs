// The GPU backends against the golden fixtures and against the CPU engine: every fixture through
// every GPU backend (fused kernels; cuDNN when compiled in) in both precisions, the global branch's
// features bit for bit, and CPU-vs-GPU agreement on random images from 1x1 to 8000x6000.
// Without a usable GPU every test is skipped with the reason in its title.
import test from 'ava';
import { compareF32, compareU8, psnr } from '../helpers/compare.mjs';
import { enhanceFixtures } from '../helpers/shared.mjs';
import {
  agreeF32,
  agreeU8,
  closeEngines,
  cpuEngine,
  engineFor,
  gpu,
  gpuConfigs,
  gpuTest,
  randomImage,
  skipReason,
} from './gpu-helpers.mjs';

const fixtures = skipReason ? [] : enhanceFixtures();
const configs = gpuConfigs();

test.after.always(closeEngines);

gpuTest('gpuInfo() describes the device', (t) => {
  const [first] = gpu.devices;
  t.is(first.index, 0);
  t.true(first.name.length > 0, 'device name');
  t.regex(first.computeCapability, /^\d+\.\d+$/);
  t.true(first.totalMemory > 2 ** 30, `totalMemory ${first.totalMemory}`);
  t.true(first.multiprocessors > 0, `multiprocessors ${first.multiprocessors}`);
  t.true(gpu.runtimeVersion > 0 && gpu.driverVersion > 0, `runtime ${gpu.runtimeVersion}, driver ${gpu.driverVersion}`);
  t.log(`${first.name}, sm ${first.computeCapability}, ${first.multiprocessors} SMs, cuDNN backend ${gpu.cudnnCompiled ? 'compiled' : 'not compiled'}`);
});

// The device run sets FLWNET_EXPECT_CUDNN=1 when it found cuDNN headers to build with: the cuDNN
// backend must then be compiled in and must load.
if (process.env.FLWNET_EXPECT_CUDNN === '1') {
  gpuTest('the cuDNN backend is compiled in and loads', async (t) => {
    t.true(gpu.cudnnCompiled, 'gpuInfo().cudnnCompiled');
    if (!gpu.cudnnCompiled) return;
    const enhancer = await engineFor({ backend: 'cudnn' });
    t.is(enhancer.device, 'cuda:0');
  });
} else if (!gpu?.cudnnCompiled) {
  test.skip('cuDNN backend — skipped: not compiled into this build (no cuDNN headers at build time)', () => {});
}

gpuTest('the fixture set is present', (t) => {
  t.true(fixtures.length >= 7, `found ${fixtures.length} enhancement fixtures`);
});

for (const { backend, precision, label } of configs) {
  for (const fx of fixtures) {
    const { width, height, exposure, tolerance } = fx.json;
    const raw = { data: fx.input, width, height, channels: 3 };

    gpuTest(`${label} ${fx.name}: float32 and uint8 outputs within the ${precision} tolerances`, async (t) => {
      const enhancer = await engineFor({ backend, precision });
      const f32 = await enhancer.enhanceRaw(raw, { exposure, output: 'float32' });
      const u8 = await enhancer.enhanceRaw(raw, { exposure });
      t.is(f32.data.length, width * height * 3);
      const u8Check = compareU8(u8.data, fx.expectedF32);
      if (precision === 'exact') {
        const { maxAbs } = compareF32(f32.data, fx.expectedF32);
        t.true(maxAbs <= tolerance.f32_max_abs, `float32 max |error| ${maxAbs} (limit ${tolerance.f32_max_abs})`);
        t.true(u8Check.maxAbs <= tolerance.u8_max_abs, `uint8 max |error| ${u8Check.maxAbs}`);
        t.true(u8Check.mismatchFraction <= tolerance.u8_mismatch_fraction, `${u8Check.mismatchFraction} of uint8 values off`);
      } else {
        const db = psnr(f32.data, fx.expectedF32);
        t.true(db >= tolerance.fast_mode_min_psnr_db, `PSNR ${db.toFixed(2)} dB (limit ${tolerance.fast_mode_min_psnr_db})`);
        t.true(u8Check.maxAbs <= tolerance.fast_mode_u8_max_abs, `uint8 max |error| ${u8Check.maxAbs} (limit ${tolerance.fast_mode_u8_max_abs})`);
      }
    });

    gpuTest(`${label} ${fx.name}: inspect features equal the CPU's and the fixture's bit for bit`, async (t) => {
      const [onGpu, onCpu] = await Promise.all([
        (await engineFor({ backend, precision })).inspect(raw, { exposure }),
        (await cpuEngine()).inspect(raw, { exposure }),
      ]);
      t.deepEqual(onGpu.features, onCpu.features, 'GPU vs CPU features');
      // Some fixtures store histogram fractions rounded to float32, others the float64 quotient.
      onGpu.features.forEach((f, i) => {
        const stored = fx.json.features[i];
        t.true(f === stored || Math.fround(f) === stored, `feature ${i}: ${f} vs stored ${stored}`);
      });
      t.is(onGpu.curve.length, 7);
      if (precision === 'exact') {
        onGpu.curve.forEach((a, i) => {
          const want = fx.json.curve[i];
          t.true(Math.abs(a - want) <= 1e-6 * Math.max(1, Math.abs(want)), `curve[${i}] ${a} vs ${want}`);
        });
      }
    });
  }
}

// CPU-vs-GPU agreement on random images; the CPU reference of a size is computed once and kept
// only while that size's tests run (the largest is 576 MB of float32).
const AGREEMENT_SIZES = [
  [1, 1],
  [1, 7],
  [17, 3],
  [33, 65],
  [640, 480],
  [1023, 769],
  [8000, 6000],
];
let reference;

async function cpuReference(width, height, channels, seed) {
  const key = `${width}x${height}x${channels}/${seed}`;
  if (reference?.key !== key) {
    reference = undefined; // let the previous size's buffers go before allocating the next
    const image = randomImage(width, height, { seed, channels });
    const out = await (await cpuEngine()).enhanceRaw(image, { exposure: 0.4, output: 'float32' });
    reference = { key, image, expected: out.data };
  }
  return reference;
}

for (const [width, height] of AGREEMENT_SIZES) {
  // One mid-sized case carries an alpha channel, which must pass through unchanged.
  const channels = width === 33 ? 4 : 3;
  const seed = width * 7919 + height;
  for (const { backend, precision, label } of configs) {
    gpuTest(`${label} agrees with the CPU on a random ${width}x${height}x${channels} image`, async (t) => {
      const { image, expected } = await cpuReference(width, height, channels, seed);
      const enhancer = await engineFor({ backend, precision });
      const f32 = await enhancer.enhanceRaw(image, { exposure: 0.4, output: 'float32' });
      const floatCheck = agreeF32(precision, f32.data, expected);
      t.true(floatCheck.ok, `float32: ${floatCheck.detail}`);
      const u8 = await enhancer.enhanceRaw(image, { exposure: 0.4 });
      const byteCheck = agreeU8(precision, u8.data, expected);
      t.true(byteCheck.ok, byteCheck.detail);
      if (channels === 4) {
        let alphaKept = true;
        for (let i = 3; i < image.data.length; i += 4) alphaKept &&= u8.data[i] === image.data[i];
        t.true(alphaKept, 'alpha passed through');
      }
      t.log(`${floatCheck.detail}; ${byteCheck.detail}`);
    });
  }
}
