// The CPU engine's Winograd kernels (the default where the processor has AVX-512) against its
// direct convolutions (cpuWinograd: false), on sizes that end rows inside a tile, split images
// into several strips and bands, and carry an alpha channel. Where the processor has no Winograd
// kernel both engines are direct and must agree exactly.
import { Enhancer } from 'flwnet';
import { sharedTest, weightsPath } from './helpers/shared.mjs';
import { noiseImage } from './helpers/noise-image.mjs';

const createWith = (cpuWinograd) => Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 2, cpuWinograd });

const SIZES = [
  [1, 1, 3],
  [5, 3, 3],
  [13, 11, 4],
  [25, 40, 3],
  [97, 61, 3],
  [611, 130, 4],
];

sharedTest.serial('Winograd and direct convolutions agree within 2e-5', async (t) => {
  const direct = await createWith(false);
  const fast = await createWith(true);
  try {
    t.false(direct.description.includes('winograd'), direct.description);
    for (const [width, height, channels] of SIZES) {
      const image = noiseImage(width, height, channels, width * 31 + height, 0x7f);
      const a = (await direct.enhanceRaw(image, { exposure: 0.5, output: 'float32' })).data;
      const b = (await fast.enhanceRaw(image, { exposure: 0.5, output: 'float32' })).data;
      t.is(a.length, b.length);
      let maxAbs = 0;
      for (let i = 0; i < a.length; i++) maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]));
      t.true(maxAbs <= 2e-5, `${width}x${height}x${channels}: max |difference| ${maxAbs}`);
      if (!fast.description.includes('winograd')) t.is(maxAbs, 0, 'both engines are direct here');
    }
  } finally {
    await direct.close();
    await fast.close();
  }
});

sharedTest('cpuWinograd must be a boolean', async (t) => {
  const err = await t.throwsAsync(createWith('maybe'));
  t.is(err.code, 'ERR_FLWNET_INVALID_OPTION');
  t.regex(err.message, /cpuWinograd/);
});
