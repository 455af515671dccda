// The CPU engine's 2-D Winograd block kernels (the default where the processor has AVX2 or
// AVX-512) on every vector instruction set this processor has: against the direct convolutions
// (cpuWinograd: false) on sizes that end rows and 6-row blocks inside a tile, cut images into
// several strips and bands and carry an alpha channel; and every golden fixture within its
// tolerances. cpuKernel: 'rows' keeps the row-wise kernels.
import { Enhancer, InvalidOptionError } from 'flwnet';
import { enhanceFixtures, sharedTest, weightsPath } from './helpers/shared.mjs';
import { noiseImage } from './helpers/noise-image.mjs';
import { compareF32, compareU8 } from './helpers/compare.mjs';

const SIZES = [
  [1, 1, 3],
  [6, 6, 3],
  [7, 13, 4],
  [25, 40, 3],
  [97, 61, 3],
  [331, 143, 4],
  [700, 130, 3],
];

async function createWith(settings) {
  return Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 2, ...settings });
}

async function vectorIsas() {
  const found = [];
  for (const isa of ['avx512', 'avx2']) {
    try {
      await (await createWith({ cpuIsa: isa })).close();
      found.push(isa);
    } catch {
      // this processor lacks it
    }
  }
  return found;
}

sharedTest.serial('2-D Winograd blocks agree with the direct convolutions within 2e-5 on every vector ISA', async (t) => {
  const isas = await vectorIsas();
  if (isas.length === 0) return t.pass('no vector instruction set here: the engine runs direct only');
  for (const isa of isas) {
    const direct = await createWith({ cpuIsa: isa, cpuWinograd: false });
    const blocks = await createWith({ cpuIsa: isa });
    try {
      t.true(blocks.description.includes('winograd 2d'), blocks.description);
      for (const [width, height, channels] of SIZES) {
        const image = noiseImage(width, height, channels, width * 17 + height, 0x7f);
        const a = (await direct.enhanceRaw(image, { exposure: 0.5, output: 'float32' })).data;
        const b = (await blocks.enhanceRaw(image, { exposure: 0.5, output: 'float32' })).data;
        const { maxAbs } = compareF32(b, a);
        t.true(maxAbs <= 2e-5, `${isa} ${width}x${height}x${channels}: max |difference| ${maxAbs}`);
      }
    } finally {
      await direct.close();
      await blocks.close();
    }
  }
});

sharedTest.serial('2-D Winograd blocks meet every fixture tolerance on every vector ISA', async (t) => {
  const isas = await vectorIsas();
  if (isas.length === 0) return t.pass('no vector instruction set here: the engine runs direct only');
  const fixtures = enhanceFixtures();
  t.true(fixtures.length >= 7, `found ${fixtures.length} enhancement fixtures`);
  for (const isa of isas) {
    const blocks = await createWith({ cpuIsa: isa });
    try {
      for (const fx of fixtures) {
        const { width, height, exposure, tolerance } = fx.json;
        const raw = { data: fx.input, width, height, channels: 3 };
        const f32 = (await blocks.enhanceRaw(raw, { exposure, output: 'float32' })).data;
        const { maxAbs } = compareF32(f32, fx.expectedF32);
        t.true(maxAbs <= tolerance.f32_max_abs, `${isa} ${fx.name}: float32 max |error| ${maxAbs}`);
        const u8 = compareU8((await blocks.enhanceRaw(raw, { exposure })).data, fx.expectedF32);
        t.true(u8.maxAbs <= tolerance.u8_max_abs, `${isa} ${fx.name}: uint8 max |error| ${u8.maxAbs}`);
        t.true(u8.mismatchFraction <= tolerance.u8_mismatch_fraction, `${isa} ${fx.name}: ${u8.mismatchFraction} off`);
      }
    } finally {
      await blocks.close();
    }
  }
});

sharedTest('cpuKernel: rows selects the row-wise kernels; other values are rejected', async (t) => {
  const rows = await createWith({ cpuKernel: 'rows' });
  try {
    t.false(rows.description.includes('winograd 2d'), rows.description);
  } finally {
    await rows.close();
  }
  await t.throwsAsync(createWith({ cpuKernel: 'fastest' }), { instanceOf: InvalidOptionError, message: /cpuKernel/ });
});
