// Decoding and encoding without the network: BMP variants (and a fuzz run over damaged ones),
// HEIC, size limits from the header, frames, greyscale, 16-bit, metadata and encoder defaults.
import test from 'ava';
import sharp from 'sharp';
import { decodeBmp, encodeBmp } from '../dist/bmp.js';
import { InvalidInputError } from '../dist/errors.js';
import { decodeImage, encodeImage, outputFormatFor } from '../dist/image-io.js';
import { buildBmp, expectedPixels, HEIGHT, WIDTH } from './helpers/bmp-builder.mjs';

const TWO_COLOURS = [
  [[0, 0, 0, 255], [255, 255, 255, 255], [0, 0, 0, 255]],
  [[255, 255, 255, 255], [255, 255, 255, 255], [0, 0, 0, 255]],
];

const VARIANTS = [
  { name: '1-bit palette', bits: 1, picture: TWO_COLOURS },
  { name: '4-bit palette', bits: 4 },
  { name: '8-bit palette', bits: 8 },
  { name: '8-bit palette, top-down', bits: 8, topDown: true },
  { name: '8-bit palette, core header', bits: 8, header: 'core' },
  { name: 'RLE8', bits: 8, compression: 'rle8' },
  { name: 'RLE4', bits: 4, compression: 'rle4' },
  { name: '16-bit 5-5-5', bits: 16 },
  { name: '16-bit 5-6-5 bit fields', bits: 16, compression: 'bitfields', masks: [0xf800, 0x7e0, 0x1f, 0] },
  { name: '24-bit', bits: 24 },
  { name: '24-bit, top-down', bits: 24, topDown: true },
  { name: '24-bit, core header', bits: 24, header: 'core' },
  { name: '32-bit without alpha', bits: 32 },
  { name: '32-bit bit fields', bits: 32, compression: 'bitfields', masks: [0xff0000, 0xff00, 0xff, 0] },
  { name: '32-bit bit fields with alpha, V4', bits: 32, compression: 'bitfields', header: 'v4', masks: [0xff0000, 0xff00, 0xff, 0xff000000], alpha: true },
  { name: '32-bit with alpha, V5, top-down', bits: 32, compression: 'bitfields', header: 'v5', topDown: true, masks: [0xff00, 0xff0000, 0xff000000, 0xff], alpha: true },
];

for (const variant of VARIANTS) {
  test(`BMP ${variant.name} decodes to the expected pixels`, async (t) => {
    const file = buildBmp(variant);
    const image = decodeBmp(file, 1e6);
    const picture = variant.picture;
    t.is(image.width, picture ? picture[0].length : WIDTH);
    t.is(image.height, picture ? picture.length : HEIGHT);
    t.is(image.channels, variant.alpha ? 4 : 3);
    t.deepEqual([...image.data], expectedPixels({ ...variant, alpha: variant.alpha }));
    const decoded = await decodeImage(file, 1e6);
    t.is(decoded.format, 'bmp');
    t.is(outputFormatFor(decoded.format), 'bmp');
  });
}

test('BMP palettes of greys mark the image greyscale', (t) => {
  t.true(decodeBmp(buildBmp({ bits: 1, picture: TWO_COLOURS }), 1e6).grayscale);
  t.false(decodeBmp(buildBmp({ bits: 8 }), 1e6).grayscale);
});

test('BMP written by flwnet reads back exactly (grey, RGB, RGBA)', (t) => {
  const rgba = Uint8Array.from({ length: 7 * 4 * 4 }, (_, i) => (i * 37) % 256);
  const rgb = Uint8Array.from({ length: 7 * 4 * 3 }, (_, i) => (i * 11) % 256);
  const back4 = decodeBmp(encodeBmp(rgba, 7, 4, 4), 1e6);
  t.is(back4.channels, 4);
  t.deepEqual([...back4.data], [...rgba]);
  t.deepEqual([...decodeBmp(encodeBmp(rgb, 7, 4, 3), 1e6).data], [...rgb]);
  const grey = Uint8Array.from({ length: 28 }, (_, i) => i * 9);
  const greyBack = decodeBmp(encodeBmp(grey, 7, 4, 1), 1e6);
  t.true(greyBack.grayscale);
  t.deepEqual([...greyBack.data].filter((_, i) => i % 3 === 0), [...grey]);
});

test('damaged BMP headers give InvalidInputError naming the problem', (t) => {
  const good = buildBmp({ bits: 24 });
  const cases = [
    [good.subarray(0, 20), /ends inside/],
    [Object.assign(Buffer.from(good), {}).fill(0, 14, 18), /header size/],
  ];
  const huge = Buffer.from(good);
  huge.writeInt32LE(2 ** 21, 18);
  cases.push([huge, /over the limit of 1048576 pixels per side/]);
  const short = good.subarray(0, good.length - 10);
  cases.push([short, /ends inside the pixel data/]);
  const badIndex = buildBmp({ bits: 8 });
  badIndex.writeUInt32LE(2, 46); // a 2-colour palette for pixels that use 10
  cases.push([badIndex, /palette index/]);
  for (const [bytes, message] of cases) {
    const error = t.throws(() => decodeBmp(bytes, 1e6), { instanceOf: InvalidInputError });
    t.regex(error.message, message);
  }
});

test('fuzz: random damage to valid BMPs gives InvalidInputError or an image, never a crash or hang', (t) => {
  const seeds = VARIANTS.map((v) => buildBmp(v));
  let state = 12345;
  const random = (n) => {
    state = (state * 1103515245 + 12345) >>> 0;
    return state % n;
  };
  let rejected = 0;
  const started = performance.now();
  for (let i = 0; i < 4000; i++) {
    const base = seeds[i % seeds.length];
    let bytes = Buffer.from(base);
    const edits = 1 + random(4);
    for (let e = 0; e < edits; e++) {
      const kind = random(4);
      if (kind === 0) bytes[random(bytes.length)] = random(256);
      else if (kind === 1) bytes = bytes.subarray(0, random(bytes.length) + 1);
      else if (kind === 2) bytes.writeUInt32LE(random(2 ** 32), random(Math.max(1, bytes.length - 4)));
      else bytes[random(Math.min(bytes.length, 60))] ^= 1 << random(8);
    }
    try {
      const image = decodeBmp(bytes, 1e6);
      t.is(image.data.length, image.width * image.height * image.channels);
    } catch (err) {
      if (!(err instanceof InvalidInputError)) t.fail(`case ${i}: ${err?.constructor?.name}: ${err?.message}`);
      rejected++;
    }
  }
  t.true(rejected > 100, `only ${rejected} damaged files were refused`);
  t.true(performance.now() - started < 60_000);
});

test('HEIC files are refused with advice on converting them', async (t) => {
  const heic = Buffer.alloc(64);
  heic.writeUInt32BE(24, 0);
  heic.write('ftypheic', 4, 'latin1');
  const error = await t.throwsAsync(decodeImage(heic, 1e6), { instanceOf: InvalidInputError });
  t.regex(error.message, /HEVC.*convert/i);
});

test('an encoded image over the per-side limit is refused from its header, before decoding', async (t) => {
  // A PNG header claiming 2,000,000 x 1 pixels: only the header is read.
  const png = await sharp({ create: { width: 4, height: 1, channels: 3, background: 'black' } }).png().toBuffer();
  const wide = Buffer.from(png);
  wide.writeUInt32BE(2_000_000, 16);
  const error = await t.throwsAsync(decodeImage(wide, 2 ** 28), { instanceOf: InvalidInputError });
  t.regex(error.message, /over the limit of 1048576 pixels per side/);
});

const frame = (value, w = 6, h = 4) => new Uint8Array(w * h * 3).fill(value);

test('every frame of an animated GIF is decoded, and encoding keeps frames, delays and loop', async (t) => {
  const frames = [10, 90, 170].map((v) => frame(v));
  const gif = await sharp(Buffer.concat(frames), { raw: { width: 6, height: 12, channels: 3, pageHeight: 4 } })
    .gif({ delay: [100, 200, 300], loop: 3 })
    .toBuffer();
  const decoded = await decodeImage(gif, 1e6);
  t.is(decoded.frames.length, 3);
  t.is(decoded.height, 4);
  t.deepEqual(decoded.delay, [100, 200, 300]);
  t.is(decoded.loop, 3);
  for (const format of ['gif', 'webp']) {
    const out = await encodeImage({ ...decoded, frames: decoded.frames }, format, { metadata: 'keep' });
    const meta = await sharp(out).metadata();
    t.is(meta.pages, 3, format);
    t.deepEqual(meta.delay, [100, 200, 300], format);
    t.is(meta.loop, 3, format);
  }
  const error = await t.throwsAsync(encodeImage(decoded, 'jpeg', { metadata: 'keep' }));
  t.regex(error.message, /3 frames and jpeg holds one/);
});

test('every page of a multi-page TIFF is decoded and written back', async (t) => {
  const pages = [20, 120].map((v) => frame(v));
  const tiff = await sharp(Buffer.concat(pages), { raw: { width: 6, height: 8, channels: 3, pageHeight: 4 } }).tiff().toBuffer();
  const decoded = await decodeImage(tiff, 1e6);
  t.is(decoded.frames.length, 2);
  t.is(decoded.frames[1][0], 120);
  const out = await encodeImage(decoded, 'tiff', { metadata: 'keep' });
  t.is((await sharp(out).metadata()).pages, 2);
});

test('AVIF input is AVIF output', async (t) => {
  const avif = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#204060' } }).avif().toBuffer();
  const decoded = await decodeImage(avif, 1e6);
  t.is(decoded.format, 'avif');
  t.is(outputFormatFor(decoded.format), 'avif');
});

test('greyscale input is written greyscale; 16-bit PNG input gives a 16-bit PNG', async (t) => {
  const grey = await sharp(new Uint8Array(8 * 8).map((_, i) => i * 3), { raw: { width: 8, height: 8, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
  t.is((await sharp(grey).metadata()).channels, 1);
  const decoded = await decodeImage(grey, 1e6);
  t.true(decoded.grayscale);
  t.is(decoded.channels, 3);
  const tinted = decoded.frames.map((f) => f.map((v, i) => (i % 3 === 0 ? Math.min(255, v + 10) : v)));
  for (const format of ['png', 'jpeg', 'webp', 'bmp']) {
    const out = await encodeImage({ ...decoded, frames: tinted }, format, { metadata: 'keep' });
    if (format === 'bmp') t.true(decodeBmp(out, 1e6).grayscale, format);
    else if (format === 'webp') {
      // WebP has no one-channel form: grey is stored as equal R, G and B.
      const rgb = await sharp(out).raw().toBuffer();
      t.true(rgb.every((v, i) => Math.abs(v - rgb[i - (i % 3)]) <= 3), format);
    } else t.is((await sharp(out).metadata()).channels, 1, format);
  }
  const deep = await sharp(new Uint16Array(8 * 8 * 3).map((_, i) => i * 300), { raw: { width: 8, height: 8, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  const deepDecoded = await decodeImage(deep, 1e6);
  t.true(deepDecoded.highDepth);
  const floats = [Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => i / (8 * 8 * 3))];
  const out = await encodeImage({ ...deepDecoded, frames: floats }, 'png', { metadata: 'keep' });
  t.is((await sharp(out).metadata()).depth, 'ushort');
  const samples = await sharp(out).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
  t.is(new Uint16Array(samples.buffer, samples.byteOffset, 3)[1], Math.round((1 / 192) * 65535));
});

async function photoWithMetadata() {
  const pixels = new Uint8Array(40 * 30 * 3).map((_, i) => (i * 7) % 200);
  return sharp(pixels, { raw: { width: 40, height: 30, channels: 3 } })
    .withIccProfile('p3')
    .withMetadata({ orientation: 6 })
    .withExifMerge({
      IFD0: { Make: 'TestCam', Model: 'Z9', Copyright: 'Jo Example', DateTime: '2024:05:06 07:08:09' },
      IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' },
    })
    .jpeg({ quality: 95 })
    .toBuffer();
}

test('metadata: EXIF and the ICC profile are kept, orientation applied and reset; strip removes them', async (t) => {
  const input = await photoWithMetadata();
  const inMeta = await sharp(input).metadata();
  t.is(inMeta.orientation, 6);
  const decoded = await decodeImage(input, 1e6, { metadata: 'keep' });
  t.is(decoded.width, 30); // rotated upright
  t.is(decoded.height, 40);
  const kept = await encodeImage(decoded, 'jpeg', { metadata: 'keep' });
  const meta = await sharp(kept).metadata();
  t.is(meta.width, 30);
  t.true(meta.orientation === undefined || meta.orientation === 1);
  const exif = meta.exif.toString('latin1');
  for (const text of ['TestCam', 'Z9', 'Jo Example', '2024:05:06 07:08:09']) t.true(exif.includes(text), text);
  t.true(exif.includes('GPS') || /\x88\x25|\x25\x88/.test(exif), 'GPS IFD kept');
  t.deepEqual(meta.icc, inMeta.icc);
  // The pixels stay in the input's own profile, unconverted: a lossless output holds them exactly.
  const png = await encodeImage(decoded, 'png', { metadata: 'keep' });
  t.deepEqual((await sharp(png).metadata()).icc, inMeta.icc);
  t.deepEqual(await sharp(png, { ignoreIcc: true }).raw().toBuffer(), Buffer.from(decoded.data));
  const stripped = await encodeImage(await decodeImage(input, 1e6, { metadata: 'strip' }), 'jpeg', { metadata: 'strip' });
  const strippedMeta = await sharp(stripped).metadata();
  t.is(strippedMeta.exif, undefined);
  t.is(strippedMeta.icc, undefined);
});

test('encoder defaults: JPEG 4:4:4 at quality 92; alpha flattened onto white (or the background asked for)', async (t) => {
  const rgba = new Uint8Array(16 * 16 * 4).map((_, i) => (i % 4 === 3 ? 0 : 40));
  const image = { frames: [rgba], width: 16, height: 16, channels: 4, grayscale: false, inOwnProfile: false };
  const jpeg = await encodeImage(image, 'jpeg', { metadata: 'strip' });
  const meta = await sharp(jpeg).metadata();
  t.is(meta.chromaSubsampling, '4:4:4');
  const pixels = await sharp(jpeg).raw().toBuffer();
  t.true(pixels[0] >= 250, `transparent pixels flattened onto white, got ${pixels[0]}`);
  const onRed = await sharp(await encodeImage(image, 'jpeg', { metadata: 'strip', background: [255, 0, 0] })).raw().toBuffer();
  t.true(onRed[0] > 240 && onRed[1] < 15);
  const q92 = await sharp(new Uint8Array(64 * 64 * 3).map((_, i) => (i * 31) % 256), { raw: { width: 64, height: 64, channels: 3 } })
    .jpeg({ quality: 92, chromaSubsampling: '4:4:4' })
    .toBuffer();
  const noisy = await decodeImage(q92, 1e6);
  const ours = await encodeImage(noisy, 'jpeg', { metadata: 'strip' });
  t.is(ours.length, (await sharp(noisy.data, { raw: { width: 64, height: 64, channels: 3 } }).jpeg({ quality: 92, chromaSubsampling: '4:4:4', mozjpeg: false }).toBuffer()).length);
  await t.throwsAsync(encodeImage(noisy, 'png', { metadata: 'strip', quality: 80 }), { message: /quality does not apply to png/ });
});

test('uses that take one picture (evaluate) refuse an animation instead of taking its first frame', async (t) => {
  const { evaluate } = await import('../dist/index.js');
  const frames = Buffer.concat([10, 200].map((v) => Buffer.alloc(8 * 4 * 3, v)));
  const gif = await sharp(frames, { raw: { width: 8, height: 8, channels: 3, pageHeight: 4 } }).gif().toBuffer();
  const error = await t.throwsAsync(evaluate(gif, gif), { instanceOf: InvalidInputError });
  t.regex(error.message, /2 frames/);
});

test('a CMYK JPEG is converted to sRGB; its EXIF is kept and the output is RGB', async (t) => {
  const pixels = Buffer.alloc(32 * 24 * 3).map((_, i) => (i % 3 === 0 ? 200 : 60));
  const cmyk = await sharp(pixels, { raw: { width: 32, height: 24, channels: 3 } })
    .withExifMerge({ IFD0: { Make: 'CmykCam' } })
    .toColourspace('cmyk')
    .jpeg()
    .toBuffer();
  t.is((await sharp(cmyk).metadata()).space, 'cmyk');
  const decoded = await decodeImage(cmyk, 1e6, { metadata: 'keep' });
  t.false(decoded.inOwnProfile);
  const out = await encodeImage(decoded, 'png', { metadata: 'keep' });
  const meta = await sharp(out).metadata();
  t.is(meta.space, 'srgb');
  t.is(meta.channels, 3);
  t.true(meta.exif.toString('latin1').includes('CmykCam'));
  t.deepEqual(await sharp(out).raw().toBuffer(), Buffer.from(decoded.data));
});

test('an animated WebP keeps its EXIF along with every frame, delays and loop', async (t) => {
  const frames = Buffer.concat([10, 80, 160].map((v) => Buffer.alloc(20 * 12 * 3, v)));
  const input = await sharp(frames, { raw: { width: 20, height: 36, channels: 3, pageHeight: 12 } })
    .withExifMerge({ IFD0: { Make: 'AnimCam' } })
    .webp({ lossless: true, delay: [100, 200, 300], loop: 2 })
    .toBuffer();
  const decoded = await decodeImage(input, 1e6, { metadata: 'keep' });
  t.is(decoded.frames.length, 3);
  const enhanced = decoded.frames.map((f) => f.map((v, i) => (decoded.channels === 4 && i % 4 === 3 ? v : 255 - v)));
  const out = await encodeImage({ ...decoded, frames: enhanced }, 'webp', { metadata: 'keep' });
  const meta = await sharp(out).metadata();
  t.is(meta.pages, 3);
  t.deepEqual(meta.delay, [100, 200, 300]);
  t.is(meta.loop, 2);
  t.true(meta.exif.toString('latin1').includes('AnimCam'));
  const back = await sharp(out, { pages: -1 }).removeAlpha().raw().toBuffer();
  t.true(Math.abs(back[0] - 245) <= 2 && Math.abs(back[back.length - 1] - 95) <= 2, `${back[0]} ${back[back.length - 1]}`);
});
