// The CPU engine's float output must not depend on the thread count: the image is cut into tiles
// by its size alone, so 1, 2, 3, 7 and 16 threads compute every pixel with the same arithmetic.
// Checked bit for bit on every golden fixture and on odd sizes (rows ending inside a Winograd
// tile, several strips and bands, an alpha channel).
import { Enhancer } from 'flwnet';
import { enhanceFixtures, sharedTest, weightsPath } from './helpers/shared.mjs';
import { noiseImage } from './helpers/noise-image.mjs';

const THREADS = [1, 2, 3, 7, 16];
const ODD_SIZES = [
  [7, 5, 3],
  [331, 97, 4],
  [643, 211, 3],
  [1001, 67, 3],
];

function firstDifference(a, b) {
  if (a.length !== b.length) return `lengths ${a.length} and ${b.length}`;
  const ua = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const ub = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < ua.length; i++) {
    if (ua[i] !== ub[i]) return `value ${i}: ${a[i]} vs ${b[i]}`;
  }
  return null;
}

function cases() {
  const list = enhanceFixtures().map((fx) => ({
    name: fx.name,
    image: { data: fx.input, width: fx.json.width, height: fx.json.height, channels: 3 },
    exposure: fx.json.exposure,
  }));
  for (const [width, height, channels] of ODD_SIZES) {
    list.push({ name: `${width}x${height}x${channels}`, image: noiseImage(width, height, channels, width + 7 * height), exposure: 0.5 });
  }
  return list;
}

async function outputsFor(threads, list) {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads });
  try {
    const out = [];
    for (const c of list) out.push((await enhancer.enhanceRaw(c.image, { exposure: c.exposure, output: 'float32' })).data);
    return out;
  } finally {
    await enhancer.close();
  }
}

sharedTest.serial('float output is bit-identical for 1, 2, 3, 7 and 16 threads', async (t) => {
  const list = cases();
  t.true(list.length >= ODD_SIZES.length + 7, `${list.length} cases`);
  const reference = await outputsFor(THREADS[0], list);
  for (const threads of THREADS.slice(1)) {
    const outputs = await outputsFor(threads, list);
    list.forEach((c, i) => {
      const diff = firstDifference(reference[i], outputs[i]);
      t.is(diff, null, `${c.name}, ${threads} threads vs 1: ${diff}`);
    });
  }
});
