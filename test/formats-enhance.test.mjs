// Formats end to end through the network: every frame enhanced on its own, AVIF stays AVIF,
// greyscale stays greyscale, 16-bit stays 16-bit, metadata kept or stripped, BMP in and out.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { decodeBmp } from '../dist/bmp.js';
import { Enhancer } from '../dist/index.js';
import { sharedDir, sharedTest, weightsPath } from './helpers/shared.mjs';

let enhancerPromise;
const enhancer = () => (enhancerPromise ??= Enhancer.create({ weights: weightsPath, device: 'cpu', threads: 2 }));

function darkPixels(width, height, level, channels = 3) {
  return new Uint8Array(width * height * channels).map((_, i) => level + ((i * 7) % 23));
}

sharedTest('every page of a multi-page TIFF is enhanced on its own (its own global features)', async (t) => {
  const e = await enhancer();
  const pages = [darkPixels(24, 16, 5), darkPixels(24, 16, 60)];
  const tiff = await sharp(Buffer.concat(pages), { raw: { width: 24, height: 32, channels: 3, pageHeight: 16 } }).tiff({ compression: 'deflate' }).toBuffer();
  const out = await e.enhance(tiff);
  const meta = await sharp(out).metadata();
  t.is(meta.format, 'tiff');
  t.is(meta.pages, 2);
  const back = await sharp(out, { pages: -1 }).raw().toBuffer();
  for (const [i, page] of pages.entries()) {
    const alone = await e.enhanceRaw({ data: page, width: 24, height: 16, channels: 3 });
    t.deepEqual(back.subarray(i * page.length, (i + 1) * page.length), Buffer.from(alone.data), `page ${i}`);
  }
});

sharedTest('an animated GIF keeps every frame, its delays and loop count', async (t) => {
  const e = await enhancer();
  const frames = [5, 40, 80].map((level) => darkPixels(20, 12, level));
  const gif = await sharp(Buffer.concat(frames), { raw: { width: 20, height: 36, channels: 3, pageHeight: 12 } })
    .gif({ delay: [50, 120, 200], loop: 2 })
    .toBuffer();
  for (const [format, expected] of [[undefined, 'gif'], ['webp', 'webp']]) {
    const out = await e.enhance(gif, format ? { format } : {});
    const meta = await sharp(out).metadata();
    t.is(meta.format, expected);
    t.is(meta.pages, 3);
    t.deepEqual(meta.delay, [50, 120, 200]);
    t.is(meta.loop, 2);
  }
  await t.throwsAsync(e.enhance(gif, { format: 'jpeg' }), { message: /3 frames and jpeg holds one/ });
});

sharedTest('AVIF in gives AVIF out', async (t) => {
  const avif = await sharp(darkPixels(32, 24, 10), { raw: { width: 32, height: 24, channels: 3 } }).avif().toBuffer();
  const meta = await sharp(await (await enhancer()).enhance(avif)).metadata();
  t.is(meta.format, 'heif');
  t.is(meta.compression, 'av1');
});

sharedTest('greyscale in gives greyscale out; 16-bit PNG in gives 16-bit PNG out from the unrounded output', async (t) => {
  const e = await enhancer();
  const grey = await sharp(darkPixels(32, 24, 10, 1), { raw: { width: 32, height: 24, channels: 1 } }).toColourspace('b-w').png().toBuffer();
  const greyOut = await sharp(await e.enhance(grey)).metadata();
  t.is(greyOut.channels, 1);
  const deep = await sharp(new Uint16Array(16 * 8 * 3).map((_, i) => 2000 + i * 40), { raw: { width: 16, height: 8, channels: 3 } })
    .toColourspace('rgb16')
    .png()
    .toBuffer();
  const out = await e.enhance(deep);
  t.is((await sharp(out).metadata()).depth, 'ushort');
  const eight = await sharp(deep).raw().toBuffer();
  const float = await e.enhanceRaw({ data: eight, width: 16, height: 8, channels: 3 }, { output: 'float32' });
  const samples = await sharp(out).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
  const values = new Uint16Array(samples.buffer, samples.byteOffset, samples.length / 2);
  for (let i = 0; i < values.length; i += 37) t.is(values[i], Math.round(Math.min(1, Math.max(0, float.data[i])) * 65535));
});

sharedTest('EXIF and ICC are kept by default and stripped on request', async (t) => {
  const e = await enhancer();
  const input = await sharp(darkPixels(40, 30, 10), { raw: { width: 40, height: 30, channels: 3 } })
    .withIccProfile('p3')
    .withExifMerge({ IFD0: { Make: 'TestCam', Copyright: 'Jo Example' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } })
    .jpeg()
    .toBuffer();
  const inMeta = await sharp(input).metadata();
  const kept = await sharp(await e.enhance(input)).metadata();
  t.true(kept.exif.toString('latin1').includes('TestCam'));
  t.true(kept.exif.toString('latin1').includes('Jo Example'));
  t.deepEqual(kept.icc, inMeta.icc);
  const stripped = await sharp(await e.enhance(input, { metadata: 'strip' })).metadata();
  t.is(stripped.exif, undefined);
  t.is(stripped.icc, undefined);
});

sharedTest('a 16-bit PNG with EXIF and a profile keeps them (8-bit output); stripped, it stays 16-bit', async (t) => {
  const e = await enhancer();
  const deep = Uint16Array.from(darkPixels(24, 16, 10), (v) => v * 257);
  const input = await sharp(deep, { raw: { width: 24, height: 16, channels: 3 } })
    .toColourspace('rgb16')
    .withIccProfile('p3')
    .withExifMerge({ IFD0: { Make: 'TestCam' } })
    .png()
    .toBuffer();
  const inMeta = await sharp(input).metadata();
  t.is(inMeta.depth, 'ushort');
  const kept = await sharp(await e.enhance(input)).metadata();
  t.true(kept.exif.toString('latin1').includes('TestCam'));
  t.deepEqual(kept.icc, inMeta.icc);
  t.is(kept.depth, 'uchar');
  const stripped = await sharp(await e.enhance(input, { metadata: 'strip' })).metadata();
  t.is(stripped.exif, undefined);
  t.is(stripped.depth, 'ushort');
});

sharedTest('a BMP photo (lime_3.bmp) is enhanced and written back as BMP', async (t) => {
  const file = path.join(sharedDir, 'images', 'lowlight', 'lime_3.bmp');
  const input = fs.readFileSync(file);
  const out = await (await enhancer()).enhance(input);
  const inImage = decodeBmp(input, 1e8);
  const outImage = decodeBmp(out, 1e8);
  t.is(outImage.width, inImage.width);
  t.is(outImage.height, inImage.height);
  const mean = (d) => d.reduce((a, b) => a + b, 0) / d.length;
  t.true(mean(outImage.data) > mean(inImage.data) + 20);
});

sharedTest('JPEG output of an image with alpha is flattened onto white by default', async (t) => {
  const rgba = darkPixels(16, 16, 10, 4).map((v, i) => (i % 4 === 3 ? 0 : v));
  const png = await sharp(rgba, { raw: { width: 16, height: 16, channels: 4 } }).png().toBuffer();
  const jpeg = await (await enhancer()).enhance(png, { format: 'jpeg' });
  const pixels = await sharp(jpeg).raw().toBuffer();
  t.true(pixels.every((v) => v >= 245));
});

test.after.always(async () => {
  if (enhancerPromise) await (await enhancerPromise).close();
});

sharedTest('inspect refuses an animation rather than describing its first frame', async (t) => {
  const frames = Buffer.concat([10, 200].map((v) => Buffer.alloc(8 * 4 * 3, v)));
  const gif = await sharp(frames, { raw: { width: 8, height: 8, channels: 3, pageHeight: 4 } }).gif().toBuffer();
  await t.throwsAsync((await enhancer()).inspect(gif), { message: /inspect takes one image.*2 frames/ });
});
