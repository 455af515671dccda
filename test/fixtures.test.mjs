// Every golden enhancement case through enhanceRaw (float32 and uint8) and inspect, on the CPU,
// within the tolerances each case.json states, once per instruction set the processor runs
// (scalar, the reference, always; AVX2 and AVX-512 where present) so every kernel path is held to
// the fixtures, not only the one 'auto' picks.
import { Enhancer } from 'flwnet';
import { loadNative } from '../dist/native.js';
import { enhanceFixtures, sharedTest, weightsPath } from './helpers/shared.mjs';
import { compareF32, compareU8 } from './helpers/compare.mjs';

const fixtures = enhanceFixtures();
const isas = loadNative().cpuIsas;
const enhancers = new Map();
const enhancerFor = (cpuIsa) => {
  if (!enhancers.has(cpuIsa)) enhancers.set(cpuIsa, Enhancer.create({ weights: weightsPath, device: 'cpu', cpuIsa }));
  return enhancers.get(cpuIsa);
};

sharedTest('the fixture set is present', (t) => {
  t.true(fixtures.length >= 7, `found ${fixtures.length} enhancement fixtures`);
  t.log(`CPU instruction sets on this machine: ${isas.join(', ')}`);
});

for (const isa of isas) for (const fx of fixtures) {
  const getEnhancer = () => enhancerFor(isa);

  const { width, height, exposure, tolerance } = fx.json;
  const raw = { data: fx.input, width, height, channels: 3 };

  sharedTest(`${isa} ${fx.name}: float32 output within ${tolerance.f32_max_abs}`, async (t) => {
    const out = await (await getEnhancer()).enhanceRaw(raw, { exposure, output: 'float32' });
    t.is(out.data.length, width * height * 3);
    const { maxAbs } = compareF32(out.data, fx.expectedF32);
    t.true(maxAbs <= tolerance.f32_max_abs, `max |error| ${maxAbs}`);
  });

  sharedTest(`${isa} ${fx.name}: uint8 output within ${tolerance.u8_max_abs}`, async (t) => {
    const out = await (await getEnhancer()).enhanceRaw(raw, { exposure });
    t.true(out.data instanceof Uint8Array);
    const { maxAbs, mismatchFraction } = compareU8(out.data, fx.expectedF32);
    t.true(maxAbs <= tolerance.u8_max_abs, `max |error| ${maxAbs}`);
    t.true(mismatchFraction <= tolerance.u8_mismatch_fraction, `${mismatchFraction} of values off`);
  });

  sharedTest(`${isa} ${fx.name}: features bit-for-bit and curve`, async (t) => {
    const result = await (await getEnhancer()).inspect(raw, { exposure });
    t.is(result.features.length, 15);
    // The fixtures store some cases' histogram fractions rounded to float32 and others as the
    // float64 quotient; the engine's float64 value must equal the stored one in either form.
    result.features.forEach((f, i) => {
      const stored = fx.json.features[i];
      t.true(f === stored || Math.fround(f) === stored, `feature ${i}: ${f} vs stored ${stored}`);
    });
    result.curve.forEach((a, i) => {
      t.true(Math.abs(a - fx.json.curve[i]) <= 1e-6 * Math.max(1, Math.abs(fx.json.curve[i])), `curve[${i}] ${a} vs ${fx.json.curve[i]}`);
    });
  });
}
