// The training data pipeline: the PRNG, the synthetic low-light model's statistics, crops and
// flips, batch determinism (in-thread and from the worker), the validation split, the schedule,
// and the bad-input matrix of the loaders.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Rng } = require('../dist/train/rng.js');
const degrade = require('../dist/train/degrade.js');
const data = require('../dist/train/data.js');
const { BatchPrefetcher } = require('../dist/train/prefetch.js');
const { checkSchedule, learningRate } = require('../dist/train/schedule.js');

const QUIET = { shotNoise: [0, 0], cast: 0, desaturate: 0, jpegProbability: 0, noiseBlur: [0, 0] };

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-train-data-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A smooth colourful test image, RGB bytes. */
function gradientImage(width, height, phase = 0) {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[i] = (x * 255) / (width - 1);
      out[i + 1] = (y * 255) / (height - 1);
      out[i + 2] = 128 + 100 * Math.sin((x + y + phase) / 9);
    }
  }
  return out;
}

async function writePng(file, width, height, phase = 0) {
  await sharp(Buffer.from(gradientImage(width, height, phase)), { raw: { width, height, channels: 3 } }).png().toFile(file);
}

function memorySet(count, width, height) {
  const images = Array.from({ length: count }, (_, i) => ({ name: `im${i}`, width, height, high: gradientImage(width, height, i * 13) }));
  return { kind: 'photos', images, files: [], hash: 'test' };
}

test('xoshiro128** and SplitMix64 give their published sequences', (t) => {
  const rng = new Rng([1, 2, 3, 4]);
  t.deepEqual([rng.nextU32(), rng.nextU32(), rng.nextU32()], [11520, 0, 5927040]);
  // SplitMix64 from state 0: 0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4 (low word first).
  t.deepEqual(Rng.derive(0).state(), [0x7b1dcdaf, 0xe220a839, 0xa1b965f4, 0x6e789e6a]);
});

test('derived streams are reproducible and distinct', (t) => {
  const draw = (...ids) => { const r = Rng.derive(...ids); return Array.from({ length: 8 }, () => r.nextU32()); };
  t.deepEqual(draw(7, 3, 1), draw(7, 3, 1));
  t.notDeepEqual(draw(7, 3, 1), draw(7, 3, 2));
  t.notDeepEqual(draw(7, 3, 1), draw(8, 3, 1));
  const r = Rng.derive(5);
  let sum = 0;
  let sumSq = 0;
  const n = 200000;
  const z = new Float64Array(n);
  r.fillNormal(z);
  for (const v of z) { sum += v; sumSq += v * v; }
  t.true(Math.abs(sum / n) < 0.01);
  t.true(Math.abs(sumSq / n - 1) < 0.02);
  for (let i = 0; i < 1000; i++) { const k = r.int(7); t.true(k >= 0 && k < 7 && Number.isInteger(k)); }
});

test('exposure factors are log-uniform within the configured range and darken linear light by exactly that factor', (t) => {
  const model = degrade.checkDegradationModel({ ...QUIET, exposure: [0.02, 0.08] });
  const rng = Rng.derive(11);
  const logs = [];
  for (let i = 0; i < 4000; i++) {
    const d = degrade.sampleDegradation(model, rng);
    t.true(d.exposure >= 0.02 && d.exposure <= 0.08);
    logs.push(Math.log(d.exposure));
  }
  const meanLog = logs.reduce((a, b) => a + b, 0) / logs.length;
  t.true(Math.abs(meanLog - (Math.log(0.02) + Math.log(0.08)) / 2) < 0.03, `mean log exposure ${meanLog}`);
  const low = logs.filter((l) => l < Math.log(0.04)).length / logs.length; // one of the two octaves
  t.true(Math.abs(low - 0.5) < 0.03, `fraction in the lower octave ${low}`);

  const w = 64;
  const high = gradientImage(w, w);
  const d = degrade.sampleDegradation(model, Rng.derive(12));
  const linear = degrade.degradeLinear(high, w, w, d, Rng.derive(13));
  let sumHigh = 0;
  let sumLow = 0;
  for (let i = 0; i < high.length; i++) { sumHigh += degrade.srgbToLinear(high[i]); sumLow += linear[i]; }
  t.true(Math.abs(sumLow / sumHigh - d.exposure) < 1e-6 * d.exposure);
  // After the transfer curve and 8-bit rounding the measured darkening stays within the range.
  const bytes = degrade.quantise(linear);
  let sumBytes = 0;
  for (const v of bytes) sumBytes += degrade.srgbToLinear(v);
  const ratio = sumBytes / sumHigh;
  t.true(Math.abs(ratio - d.exposure) < 0.05 * d.exposure, `8-bit darkening ${ratio} vs ${d.exposure}`);
});

function flatVariance(model, code = 200, w = 256) {
  const high = new Uint8Array(w * w * 3).fill(code);
  const d = degrade.sampleDegradation(degrade.checkDegradationModel(model), Rng.derive(21));
  const out = degrade.degradeLinear(high, w, w, d, Rng.derive(22));
  const x = degrade.srgbToLinear(code) * d.exposure;
  let sum = 0;
  let sumSq = 0;
  let lag = 0;
  for (let i = 0; i < out.length; i++) { const e = out[i] - x; sum += e; sumSq += e * e; }
  for (let p = 0; p + 1 < w * w; p++) if ((p + 1) % w !== 0) lag += (out[p * 3] - x) * (out[p * 3 + 3] - x);
  return { d, x, mean: sum / out.length, variance: sumSq / out.length, correlation: lag / (w * (w - 1)) / (sumSq / out.length) };
}

test('noise variance is shot * x + read, white or spatially correlated', (t) => {
  const model = { ...QUIET, exposure: [0.1, 0.1], shotNoise: [4e-3, 4e-3], readNoise: [1e-4, 1e-4] };
  const white = flatVariance(model);
  const expected = 4e-3 * white.x + 1e-4;
  t.true(Math.abs(white.variance / expected - 1) < 0.03, `variance ${white.variance} vs ${expected}`);
  t.true(Math.abs(white.mean) < 3 * Math.sqrt(expected / (256 * 256 * 3)) + 1e-9, 'noise has zero mean');
  t.true(Math.abs(white.correlation) < 0.02, `white noise neighbour correlation ${white.correlation}`);
  const blurred = flatVariance({ ...model, noiseBlur: [1, 1] });
  t.true(Math.abs(blurred.variance / expected - 1) < 0.06, `blurred variance ${blurred.variance} vs ${expected}`);
  t.true(blurred.correlation > 0.4, `blurred neighbour correlation ${blurred.correlation}`);
});

test('coupled read noise follows Brooks et al.: ln read = 2.18 ln shot + 1.2 + N(0, 0.26^2)', (t) => {
  const model = degrade.checkDegradationModel({});
  const rng = Rng.derive(31);
  const residuals = [];
  for (let i = 0; i < 5000; i++) {
    const d = degrade.sampleDegradation(model, rng);
    t.true(d.shot >= 1e-4 && d.shot <= 1.2e-2);
    residuals.push(Math.log(d.read) - 2.18 * Math.log(d.shot) - 1.2);
  }
  const mean = residuals.reduce((a, b) => a + b, 0) / residuals.length;
  const sd = Math.sqrt(residuals.reduce((a, b) => a + (b - mean) ** 2, 0) / residuals.length);
  t.true(Math.abs(mean) < 0.02 && Math.abs(sd - 0.26) < 0.02, `residual mean ${mean}, sd ${sd}`);
});

test('casts are mostly cool, JPEG round trips happen at the configured rate, quantise rounds the sRGB curve', async (t) => {
  const model = degrade.checkDegradationModel({ jpegProbability: 0.25, cast: 0.2 });
  const rng = Rng.derive(41);
  let jpeg = 0;
  let cool = 0;
  for (let i = 0; i < 4000; i++) {
    const d = degrade.sampleDegradation(model, rng);
    if (d.jpegQuality > 0) { jpeg++; t.true(d.jpegQuality >= 70 && d.jpegQuality <= 95); }
    if (d.gains[2] > d.gains[0]) cool++;
    t.true(d.gains[0] >= 0.8 - 1e-12 && d.gains[2] <= 1.2 + 1e-12);
  }
  t.true(Math.abs(jpeg / 4000 - 0.25) < 0.03);
  t.true(cool / 4000 > 0.7);
  const xs = Float32Array.from({ length: 5000 }, (_, i) => (i / 4999) * 1.2 - 0.1);
  const q = degrade.quantise(xs);
  xs.forEach((x, i) => t.is(q[i], Math.round(255 * degrade.linearToSrgb(x))));
  const w = 40;
  const d = { ...degrade.sampleDegradation(model, Rng.derive(42)), jpegQuality: 80 };
  const low = await degrade.degrade(gradientImage(w, w), w, w, d, Rng.derive(43));
  t.is(low.length, w * w * 3);
});

test('crops copy the right pixels and flips mirror them', (t) => {
  const w = 10;
  const h = 7;
  const src = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) src.set([x, y, 100 + x + y], (y * w + x) * 3);
  const at = (img, size, x, y) => Array.from(img.subarray((y * size + x) * 3, (y * size + x) * 3 + 3));
  const plain = data.cropImage(src, w, 3, 2, 4, false, false);
  t.deepEqual(at(plain, 4, 0, 0), [3, 2, 105]);
  t.deepEqual(at(plain, 4, 3, 3), [6, 5, 111]);
  const fx = data.cropImage(src, w, 3, 2, 4, true, false);
  t.deepEqual(at(fx, 4, 0, 0), [6, 2, 108]);
  t.deepEqual(at(fx, 4, 0, 3), [6, 5, 111]);
  const fy = data.cropImage(src, w, 3, 2, 4, false, true);
  t.deepEqual(at(fy, 4, 0, 0), [3, 5, 108]);
  const both = data.cropImage(src, w, 3, 2, 4, true, true);
  t.deepEqual(at(both, 4, 0, 0), [6, 5, 111]);
  t.deepEqual(at(both, 4, 3, 3), [3, 2, 105]);
});

test('batches are a function of seed and index: same bytes in-thread and from the worker', async (t) => {
  const set = memorySet(3, 90, 70);
  const spec = data.checkBatchSpec({ seed: 9, batch: 4, crop: 32 }, set);
  const a = await data.makeBatch(set.images, spec, 5);
  const b = await data.makeBatch(set.images, spec, 5);
  const c = await data.makeBatch(set.images, spec, 6);
  const other = await data.makeBatch(set.images, { ...spec, seed: 10 }, 5);
  const bytes = (batch) => Buffer.concat(batch.flatMap((e) => [Buffer.from(e.low.data), Buffer.from(e.high.data)]));
  t.is(a.length, 4);
  for (const e of a) {
    t.deepEqual([e.low.width, e.low.height, e.high.width, e.high.height, e.low.channels], [32, 32, 32, 32, 3]);
    t.is(e.exposure, undefined); // the native side computes the exposure from the high crop
  }
  t.true(bytes(a).equals(bytes(b)));
  t.false(bytes(a).equals(bytes(c)));
  t.false(bytes(a).equals(bytes(other)));
  const prefetcher = new BatchPrefetcher(set.images, spec, 2);
  try {
    const fromWorker = await Promise.all([prefetcher.get(6), prefetcher.get(5)]);
    t.true(bytes(fromWorker[1]).equals(bytes(a)));
    t.true(bytes(fromWorker[0]).equals(bytes(c)));
  } finally {
    await prefetcher.close();
  }
  await t.throwsAsync(() => prefetcher.get(1), { code: 'ERR_FLWNET_CLOSED' });
});

test('every crop lies inside its image and each high crop matches the source', async (t) => {
  const set = memorySet(2, 50, 40);
  const spec = data.checkBatchSpec({ seed: 3, batch: 16, crop: 40, flips: 'none' }, set);
  const batch = await data.makeBatch(set.images, spec, 0);
  for (const e of batch) {
    // A 40-high crop of a 40-high image starts at row 0; find the column by matching the first pixel row.
    const found = set.images.some((im) => {
      for (let x0 = 0; x0 <= im.width - 40; x0++) {
        if (Buffer.from(data.cropImage(im.high, im.width, x0, 0, 40, false, false)).equals(Buffer.from(e.high.data))) return true;
      }
      return false;
    });
    t.true(found);
  }
});

test('the validation split is seeded and holds out at least one image', (t) => {
  const set = memorySet(13, 40, 40);
  const a = data.splitSet(set, 0.1, 4);
  const b = data.splitSet(set, 0.1, 4);
  t.is(a.validation.length, 1);
  t.is(a.train.images.length, 12);
  t.deepEqual(a.validation.map((i) => i.name), b.validation.map((i) => i.name));
  const names = new Set([1, 2, 3, 4, 5, 6].map((s) => data.splitSet(set, 0.1, s).validation[0].name));
  t.true(names.size > 1);
  t.is(data.splitSet(set, 0, 4).validation.length, 0);
  t.is(data.splitSet(memorySet(1, 40, 40), 0.5, 4).validation.length, 0);
  t.throws(() => data.splitSet(set, 1, 4), { code: 'ERR_FLWNET_INVALID_OPTION' });
});

test('the schedule warms up linearly, then decays by a cosine to minLr', (t) => {
  const s = checkSchedule({ lr: 1e-3, minLr: 1e-5, warmup: 10, steps: 110 });
  t.is(learningRate(s, 0), 1e-4);
  t.is(learningRate(s, 9), 1e-3);
  t.is(learningRate(s, 10), 1e-3);
  t.true(Math.abs(learningRate(s, 109) - 1e-5) < 1e-15);
  t.true(Math.abs(learningRate(s, 60) - (1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + Math.cos(Math.PI * 50 / 99)))) < 1e-15);
  const c = checkSchedule({ kind: 'constant', lr: 1e-4, steps: 5 });
  t.is(learningRate(c, 4), 1e-4);
  for (const bad of [{ lr: Number.NaN, steps: 5 }, { lr: 2, steps: 5 }, { lr: 1e-3, steps: 0 }, { lr: 1e-3, steps: 5, warmup: 5 },
    { lr: 1e-3, minLr: 1e-2, steps: 5 }, { lr: 1e-3, steps: 5, kind: 'linear' }, { lr: 1e-3, steps: 1.5 }]) {
    t.throws(() => checkSchedule(bad), { code: 'ERR_FLWNET_INVALID_OPTION' }, JSON.stringify(bad));
  }
});

test('photos and pairs load from directories, downscaled, with file hashes', async (t) => {
  const dir = tmpdir(t);
  fs.mkdirSync(path.join(dir, 'low'));
  fs.mkdirSync(path.join(dir, 'high'));
  await writePng(path.join(dir, 'high', 'a.png'), 300, 200);
  await writePng(path.join(dir, 'low', 'a.png'), 300, 200, 5);
  await writePng(path.join(dir, 'high', 'b.png'), 120, 160);
  await sharp(Buffer.from(gradientImage(120, 160, 7)), { raw: { width: 120, height: 160, channels: 3 } }).jpeg().toFile(path.join(dir, 'low', 'b.jpg'));
  const pairs = await data.loadPairSet(path.join(dir, 'low'), path.join(dir, 'high'), { maxSide: 150 });
  t.is(pairs.kind, 'pairs');
  t.deepEqual(pairs.images.map((i) => [i.name, i.width, i.height]), [['a', 150, 100], ['b', 113, 150]]);
  t.true(pairs.images.every((i) => i.low.length === i.width * i.height * 3 && i.high.length === i.low.length));
  t.is(pairs.files.length, 4);
  t.regex(pairs.hash, /^[0-9a-f]{64}$/);
  const photos = await data.loadPhotoSet(path.join(dir, 'high'));
  t.deepEqual(photos.images.map((i) => [i.name, i.width, i.height]), [['a', 300, 200], ['b', 120, 160]]);
  t.not(photos.hash, pairs.hash);
});

test('bad data is refused with a clear, typed error', async (t) => {
  const dir = tmpdir(t);
  const mk = (...parts) => { const p = path.join(dir, ...parts); fs.mkdirSync(p, { recursive: true }); return p; };
  const low = mk('size', 'low');
  const high = mk('size', 'high');
  await writePng(path.join(low, 'x.png'), 64, 48);
  await writePng(path.join(high, 'x.png'), 64, 50);
  await t.throwsAsync(() => data.loadPairSet(low, high), { code: 'ERR_FLWNET_INVALID_INPUT', message: /pair x: .* is 64 x 48 but .* is 64 x 50/ });

  const ulow = mk('unmatched', 'low');
  const uhigh = mk('unmatched', 'high');
  await writePng(path.join(ulow, 'one.png'), 40, 40);
  await writePng(path.join(uhigh, 'one.png'), 40, 40);
  await writePng(path.join(uhigh, 'two.png'), 40, 40);
  await t.throwsAsync(() => data.loadPairSet(ulow, uhigh), { code: 'ERR_FLWNET_INVALID_INPUT', message: /1 file\(s\) have no partner .*two\.png/ });

  const empty = mk('empty');
  fs.writeFileSync(path.join(empty, 'notes.txt'), 'not an image');
  await t.throwsAsync(() => data.loadPhotoSet(empty), { code: 'ERR_FLWNET_INVALID_INPUT', message: /holds no images/ });
  await t.throwsAsync(() => data.loadPhotoSet(path.join(dir, 'missing')), { code: 'ERR_FLWNET_INVALID_INPUT', message: /does not exist/ });
  await t.throwsAsync(() => data.loadPhotoSet(path.join(empty, 'notes.txt')), { code: 'ERR_FLWNET_INVALID_INPUT', message: /not a directory/ });

  const corrupt = mk('corrupt');
  fs.writeFileSync(path.join(corrupt, 'broken.jpg'), Buffer.from('this is not a jpeg'));
  await t.throwsAsync(() => data.loadPhotoSet(corrupt), { code: 'ERR_FLWNET_INVALID_INPUT', message: /broken\.jpg is not a readable image/ });

  const set = memorySet(2, 60, 50);
  t.throws(() => data.checkBatchSpec({ seed: 1, batch: 2, crop: 55 }, set), { code: 'ERR_FLWNET_INVALID_OPTION', message: /crop 55 is larger than im0 \(60 x 50/ });
  const bad = [
    { seed: 1, batch: 0, crop: 20 }, { seed: 1, batch: 2, crop: Number.NaN }, { seed: -1, batch: 2, crop: 20 },
    { seed: 1.5, batch: 2, crop: 20 }, { seed: 1, batch: 2, crop: 20, flips: 'diagonal' },
    { seed: 1, batch: 2, crop: 20, degradation: { exposure: [0.5, 0.1] } },
    { seed: 1, batch: 2, crop: 20, degradation: { exposure: [0, 0.1] } },
    { seed: 1, batch: 2, crop: 20, degradation: { shotNoise: [Number.NaN, 1e-3] } },
    { seed: 1, batch: 2, crop: 20, degradation: { jpegQuality: [50, 101] } },
    { seed: 1, batch: 2, crop: 20, degradation: { gamma: 2 } },
    { seed: 1, batch: 2, crop: 20, degradation: { cast: Infinity } },
  ];
  for (const spec of bad) t.throws(() => data.checkBatchSpec(spec, set), { code: 'ERR_FLWNET_INVALID_OPTION' }, JSON.stringify(spec));
  t.throws(() => data.checkBatchSpec({ seed: 1, batch: 1, crop: 20 }, { ...set, images: [] }), { code: 'ERR_FLWNET_INVALID_INPUT' });
});
