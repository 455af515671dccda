// The public API: formats, alpha, orientation, concurrency, abort, close, and the bad-input matrix.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as flwnet from 'flwnet';
import { sharedDir, sharedTest, weightsPath } from './helpers/shared.mjs';

const { Enhancer, enhance, InvalidInputError, InvalidOptionError, WeightsError, AbortError, ClosedError, DeviceError } = flwnet;

let shared;
const getEnhancer = async () => (shared ??= await Enhancer.create({ weights: weightsPath, device: 'cpu' }));
const lowlight = (name) => fs.readFileSync(path.join(sharedDir, 'images', 'lowlight', name));

function noiseImage(width, height, channels, seed = 1) {
  const data = new Uint8Array(width * height * channels);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    data[i] = (s >>> 16) & 0x3f; // dark
  }
  return { data, width, height, channels };
}

test('enhance() without weights runs the package\'s default weights', async (t) => {
  const saved = process.env.FLWNET_WEIGHTS;
  delete process.env.FLWNET_WEIGHTS;
  try {
    // The default weights load; the bytes given are not an image, so the error is about the input.
    const err = await t.throwsAsync(enhance(Buffer.from([1, 2, 3])));
    t.not(err.code, 'ERR_FLWNET_WEIGHTS');
  } finally {
    if (saved !== undefined) process.env.FLWNET_WEIGHTS = saved;
  }
});

test('option validation rejects bad values before any work', async (t) => {
  const bad = [
    [{ exposure: NaN }, /exposure/],
    [{ exposure: 1.5 }, /exposure/],
    [{ exposure: '0.4' }, /exposure/],
    [{ device: 'tpu' }, /device/],
    [{ device: 'cuda:-1' }, /device/],
    [{ format: 'xyz' }, /format/],
    [{ format: 'png', quality: 80 }, /quality does not apply to png/],
    [{ metadata: 'drop' }, /metadata/],
    [{ background: [0, 0, 256] }, /background/],
    [{ quality: 0 }, /quality/],
    [{ threads: 1.5 }, /threads/],
    [{ precision: 'half' }, /precision/],
    [{ colour: true }, /unknown option "colour"/],
  ];
  for (const [options, message] of bad) {
    const err = await t.throwsAsync(enhance(Buffer.from([0]), { weights: 'unused.pth', ...options }), { instanceOf: InvalidOptionError });
    t.regex(err.message, message);
  }
  await t.throwsAsync(Enhancer.create({ weights: 'x', backend: 'cudnn', device: 'cpu' }), { instanceOf: InvalidOptionError });
});

sharedTest('a JPEG comes back as a JPEG of the same size, brighter', async (t) => {
  const input = lowlight('dicm_05.jpg');
  const output = await enhance(input, { weights: weightsPath, device: 'cpu' });
  const [a, b] = await Promise.all([sharp(input).metadata(), sharp(output).metadata()]);
  t.is(b.format, 'jpeg');
  t.is(b.width, a.width);
  t.is(b.height, a.height);
  const [sa, sb] = await Promise.all([sharp(input).stats(), sharp(output).stats()]);
  t.true(sb.channels[0].mean > sa.channels[0].mean + 20, `mean red ${sa.channels[0].mean} -> ${sb.channels[0].mean}`);
});

sharedTest('format and quality options choose the encoding', async (t) => {
  const enhancer = await getEnhancer();
  const input = lowlight('lol_low_1.png');
  t.is((await sharp(await enhancer.enhance(input)).metadata()).format, 'png');
  t.is((await sharp(await enhancer.enhance(input, { format: 'webp', quality: 80 })).metadata()).format, 'webp');
  const small = await enhancer.enhance(input, { format: 'jpeg', quality: 20 });
  const large = await enhancer.enhance(input, { format: 'jpeg', quality: 95 });
  t.true(small.length < large.length);
  await t.throwsAsync(enhancer.enhance(input, { format: 'png', quality: 50 }), { instanceOf: InvalidOptionError });
});

sharedTest('alpha is kept and EXIF orientation honoured', async (t) => {
  const enhancer = await getEnhancer();
  const { data, width, height, channels } = noiseImage(30, 20, 4);
  for (let i = 3; i < data.length; i += 4) data[i] = i % 255;
  const rgba = await sharp(data, { raw: { width, height, channels } }).png().toBuffer();
  const out = await enhancer.enhance(rgba);
  const decoded = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  t.is(decoded.info.channels, 4);
  for (let i = 3; i < data.length; i += 4) t.is(decoded.data[i], data[i]);
  // orientation 6: stored 30x20, displayed 20x30; the output is upright and needs no tag.
  const rotated = await sharp(noiseImage(30, 20, 3).data, { raw: { width: 30, height: 20, channels: 3 } })
    .jpeg()
    .withMetadata({ orientation: 6 })
    .toBuffer();
  const meta = await sharp(await enhancer.enhance(rotated)).metadata();
  t.is(meta.width, 20);
  t.is(meta.height, 30);
  t.true(meta.orientation === undefined || meta.orientation === 1);
});

sharedTest('raw RGBA passes alpha through in uint8 and float32 outputs', async (t) => {
  const enhancer = await getEnhancer();
  const img = noiseImage(21, 9, 4, 7);
  const u8 = await enhancer.enhanceRaw(img);
  const f32 = await enhancer.enhanceRaw(img, { output: 'float32' });
  t.is(u8.channels, 4);
  for (let i = 3; i < img.data.length; i += 4) {
    t.is(u8.data[i], img.data[i]);
    t.true(Math.abs(f32.data[i] - img.data[i] / 255) < 1e-7);
  }
});

sharedTest('sizes from 1x1 up, and exposure moves brightness', async (t) => {
  const enhancer = await getEnhancer();
  for (const [w, h] of [[1, 1], [1, 9], [9, 1], [19, 21], [41, 40]]) {
    const out = await enhancer.enhanceRaw(noiseImage(w, h, 3), { output: 'float32' });
    t.is(out.data.length, w * h * 3);
    t.true(out.data.every(Number.isFinite));
  }
  const img = noiseImage(64, 48, 3);
  const mean = (d) => d.reduce((a, b) => a + b, 0) / d.length;
  const dim = await enhancer.enhanceRaw(img, { exposure: 0.2 });
  const bright = await enhancer.enhanceRaw(img, { exposure: 0.8 });
  t.true(mean(bright.data) > mean(dim.data));
});

sharedTest('many concurrent calls all complete and match sequential results', async (t) => {
  const enhancer = await getEnhancer();
  const imgs = Array.from({ length: 24 }, (_, i) => noiseImage(40 + i, 30, 3, i + 1));
  const together = await Promise.all(imgs.map((img) => enhancer.enhanceRaw(img)));
  for (let i = 0; i < imgs.length; i += 6) {
    t.deepEqual((await enhancer.enhanceRaw(imgs[i])).data, together[i].data);
  }
});

sharedTest('abort rejects queued and running calls with AbortError', async (t) => {
  const enhancer = await getEnhancer();
  const big = noiseImage(3000, 2000, 3);
  const controller = new AbortController();
  const running = enhancer.enhanceRaw(big, { signal: controller.signal });
  const queued = enhancer.enhanceRaw(big, { signal: controller.signal });
  setTimeout(() => controller.abort(), 20);
  await t.throwsAsync(running, { instanceOf: AbortError });
  await t.throwsAsync(queued, { instanceOf: AbortError });
  await t.throwsAsync(enhancer.enhanceRaw(big, { signal: AbortSignal.abort() }), { instanceOf: AbortError });
  t.is((await enhancer.enhanceRaw(noiseImage(8, 8, 3))).data.length, 192);
});

sharedTest('close() rejects later calls and is idempotent', async (t) => {
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 1 });
  t.is(enhancer.device, 'cpu');
  t.regex(enhancer.description, /cpu/);
  await enhancer.close();
  await enhancer.close();
  await t.throwsAsync(enhancer.enhanceRaw(noiseImage(4, 4, 3)), { instanceOf: ClosedError });
});

sharedTest('bad images and raw buffers get typed errors and leave the engine healthy', async (t) => {
  const enhancer = await getEnhancer();
  const png = await sharp(noiseImage(16, 16, 3).data, { raw: { width: 16, height: 16, channels: 3 } }).png().toBuffer();
  const badInputs = [
    [Buffer.alloc(0), /empty/],
    [Buffer.from('not an image at all'), /not a readable image/],
    [png.subarray(0, png.length - 40), /decoded|readable/],
    ['a string', /Buffer/],
  ];
  for (const [input, message] of badInputs) {
    const err = await t.throwsAsync(enhancer.enhance(input), { instanceOf: InvalidInputError });
    t.regex(err.message, message);
  }
  const rawCases = [
    [{ data: new Uint8Array(10), width: 2, height: 2, channels: 3 }, /12 are needed/],
    [{ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }, /width/],
    [{ data: new Uint8Array(8), width: 2, height: 2, channels: 2 }, /channels/],
    [{ data: [1, 2, 3], width: 1, height: 1, channels: 3 }, /Uint8Array/],
    [{ data: new Uint8Array(3), width: 1.5, height: 1, channels: 3 }, /width/],
    [{ data: new Uint8Array(3), width: 200000, height: 200000, channels: 3 }, /limit/],
    [null, /object/],
  ];
  for (const [raw, message] of rawCases) {
    const err = await t.throwsAsync(enhancer.enhanceRaw(raw), { instanceOf: InvalidInputError });
    t.regex(err.message, message);
  }
  await t.throwsAsync(enhancer.enhanceRaw(noiseImage(2, 2, 3), { output: 'float16' }), { instanceOf: InvalidOptionError });
  const limited = await Enhancer.create({ weights: weightsPath, device: 'cpu', maxPixels: 100 });
  await t.throwsAsync(limited.enhance(png), { instanceOf: InvalidInputError, message: /over the limit/ });
  await limited.close();
  t.is((await enhancer.enhance(png)).length > 0, true);
});

sharedTest("device 'cuda' without a usable GPU fails clearly; 'auto' falls back to the CPU", async (t) => {
  const info = flwnet.gpuInfo();
  if (info.devices.length > 0) return t.pass('a GPU is present: covered by the GPU suite');
  const err = await t.throwsAsync(Enhancer.create({ weights: weightsPath, device: 'cuda' }), { instanceOf: DeviceError });
  t.regex(err.message, /CUDA/);
  const auto = await Enhancer.create({ weights: weightsPath, device: 'auto' });
  t.is(auto.device, 'cpu');
  await auto.close();
});
