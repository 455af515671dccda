// The exact-mode kernel chosen by the cudaExactKernel option: the streaming kernel and the tile
// kernel must both agree with the CPU engine, and an unknown value is refused. Without a usable GPU every test is skipped with the reason in its title.
import test from 'ava';
import { Enhancer } from 'flwnet';
import { weightsPath } from '../helpers/shared.mjs';
import { agreeF32, agreeU8, closeEngines, cpuEngine, gpuTest, randomImage } from './gpu-helpers.mjs';

test.after.always(closeEngines);

/** Creates a fused exact engine running `kernel`. */
const exactEngine = (cudaExactKernel) =>
  Enhancer.create({ weights: weightsPath, device: 'cuda:0', backend: 'fused', precision: 'exact', cudaExactKernel });

// Edges of every kind: single pixels, single rows and columns, sizes that leave partial strips and
// segments, alpha, and a full-HD frame whose rows are split into several segments.
const SIZES = [
  [1, 1, 3],
  [13, 1, 3],
  [1, 23, 4],
  [47, 5, 4],
  [257, 181, 3],
  [1023, 769, 3],
  [1920, 1080, 3],
];

for (const kernel of ['stream', 'tile']) gpuTest(`the ${kernel} exact kernel agrees with the CPU engine`, async (t) => {
  const enhancer = await exactEngine(kernel);
  try {
    t.regex(enhancer.description, new RegExp(`${kernel} kernel`));
    const cpu = await cpuEngine();
    for (const [width, height, channels] of SIZES) {
      const image = randomImage(width, height, { seed: width * 31 + height, channels });
      const expected = (await cpu.enhanceRaw(image, { exposure: 0.4, output: 'float32' })).data;
      const f32 = await enhancer.enhanceRaw(image, { exposure: 0.4, output: 'float32' });
      const floatCheck = agreeF32('exact', f32.data, expected);
      const u8 = await enhancer.enhanceRaw(image, { exposure: 0.4 });
      const byteCheck = agreeU8('exact', u8.data, expected);
      let alphaKept = true;
      for (let i = 3; channels === 4 && i < image.data.length; i += 4) alphaKept &&= u8.data[i] === image.data[i];
      const label = `${width}x${height}x${channels}`;
      t.true(floatCheck.ok, `${label} float32: ${floatCheck.detail}`);
      t.true(byteCheck.ok, `${label} ${byteCheck.detail}`);
      t.true(alphaKept, `${label} alpha passed through`);
      t.log(`${label}: ${floatCheck.detail}; ${byteCheck.detail}`);
    }
  } finally {
    await enhancer.close();
  }
});

gpuTest('an unknown cudaExactKernel is refused when the engine is created', async (t) => {
  const err = await t.throwsAsync(exactEngine('fastest'));
  t.regex(err.message, /cudaExactKernel/);
  t.is(err.code, 'ERR_FLWNET_INVALID_OPTION');
});
