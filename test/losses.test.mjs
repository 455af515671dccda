// Losses and metrics (docs/numerics.md §8): every golden case through every entry point and input
// form, alpha and orientation handling, the bad-input matrix, and the `flwnet eval` command.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import * as flwnet from 'flwnet';
import { lossFixtures as sharedLossFixtures, packageRoot, sharedTest, weightsPath } from './helpers/shared.mjs';

const { evaluate, losses, Enhancer, InvalidInputError, InvalidOptionError, DeviceError } = flwnet;

/** case.json names -> evaluate() names. */
const FIELDS = {
  l1: 'l1',
  ssim_loss: 'ssimLoss',
  color: 'color',
  brightness: 'brightness',
  structure: 'structure',
  total: 'total',
  ssim: 'ssim',
  psnr_db: 'psnr',
};

/** The golden loss pairs, with the PNG files the `flwnet eval` test copies. */
function lossFixtures() {
  return sharedLossFixtures().map((f) => ({ ...f, aPng: fs.readFileSync(path.join(f.dir, 'a.png')), bPng: fs.readFileSync(path.join(f.dir, 'b.png')) }));
}

/** Fails the test unless `actual` is within the case's tolerance of `expected` (null = Infinity). */
function near(t, actual, expected, tolerance, label) {
  if (expected === null) {
    t.is(actual, Infinity, `${label}: expected Infinity`);
    return;
  }
  const allowed = Math.max(tolerance.absolute, tolerance.relative * Math.abs(expected));
  t.true(Math.abs(actual - expected) <= allowed, `${label}: ${actual} vs ${expected} (allowed ${allowed})`);
}

function checkCase(t, result, fixture, label) {
  for (const [key, field] of Object.entries(FIELDS)) if (key in fixture.json.expected) near(t, result[field], fixture.json.expected[key], fixture.json.tolerance, `${fixture.name} ${label} ${field}`);
}

const toFloat = ({ data, width, height, channels }) => ({ data: Float32Array.from(data, (v) => v / 255), width, height, channels });
const withAlpha = ({ data, width, height }, alphaOf = (i) => (i * 37) & 255) => {
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    out.set(data.subarray(3 * i, 3 * i + 3), 4 * i);
    out[4 * i + 3] = alphaOf(i);
  }
  return { data: out, width, height, channels: 4 };
};

sharedTest('evaluate() matches every golden loss case from PNG buffers, raw uint8 and raw float32', async (t) => {
  const fixtures = lossFixtures();
  t.true(fixtures.length >= 4, 'loss fixtures present');
  for (const fixture of fixtures) {
    checkCase(t, await evaluate(fixture.aPng, fixture.bPng, { device: 'cpu' }), fixture, 'png');
    checkCase(t, await evaluate(fixture.a, fixture.b, { device: 'cpu' }), fixture, 'u8');
    checkCase(t, await evaluate(toFloat(fixture.a), toFloat(fixture.b), { device: 'cpu' }), fixture, 'f32');
  }
});

sharedTest('the single-loss functions agree with the golden cases', async (t) => {
  for (const fixture of lossFixtures()) {
    const { expected, tolerance } = fixture.json;
    const { a, b, name } = fixture;
    near(t, await losses.l1(a, b), expected.l1, tolerance, `${name} l1`);
    near(t, await losses.ssim(a, b), expected.ssim_loss, tolerance, `${name} ssim loss`);
    near(t, await losses.color(a, b), expected.color, tolerance, `${name} color`);
    near(t, await losses.brightness(a, b), expected.brightness, tolerance, `${name} brightness`);
    near(t, await losses.structure(a, b), expected.structure, tolerance, `${name} structure`);
    near(t, await losses.total(fixture.aPng, fixture.bPng), expected.total, tolerance, `${name} total`);
  }
});

sharedTest('identical images: PSNR is Infinity, SSIM 1, CIEDE2000 0, and the cosine losses are not 0', async (t) => {
  const fixture = lossFixtures().find((f) => f.name === 'identical');
  const result = await evaluate(fixture.a, fixture.b);
  t.is(result.psnr, Infinity);
  t.is(result.ssim, 1);
  t.is(result.l1, 0);
  t.is(result.ciede2000, 0);
  t.true(result.color > 0.01 && result.brightness > 0.01);
});

sharedTest('alpha is ignored and mixed sample types work (float enhanced vs uint8 reference)', async (t) => {
  for (const fixture of lossFixtures()) {
    const plain = await evaluate(fixture.a, fixture.b);
    const alpha = await evaluate(withAlpha(fixture.a), withAlpha(fixture.b, () => 7));
    t.deepEqual(alpha, plain, `${fixture.name}: alpha changed the result`);
    // float32(v / 255) is not v / 255 exactly: identical images are then merely very close.
    const mixed = await evaluate(toFloat(fixture.a), fixture.b);
    if (fixture.json.expected.psnr_db === null) t.true(mixed.psnr > 140, `${fixture.name} f32 vs u8 psnr ${mixed.psnr}`);
    const { psnr_db: _psnr, ...rest } = fixture.json.expected;
    checkCase(t, mixed, { ...fixture, json: { ...fixture.json, expected: fixture.json.expected.psnr_db === null ? rest : fixture.json.expected } }, 'f32 vs u8');
  }
});

sharedTest('encoded inputs honour EXIF orientation and drop alpha', async (t) => {
  const fixture = lossFixtures().find((f) => f.name === 'odd-17x9');
  const { width, height } = fixture.json;
  // Stored rotated by 90 degrees with an orientation tag that turns it back upright.
  const rotated = await sharp(fixture.a.data, { raw: { width, height, channels: 3 } }).rotate(-90).png().toBuffer();
  const tagged = await sharp(rotated).withMetadata({ orientation: 6 }).webp({ lossless: true }).toBuffer();
  t.is((await sharp(tagged).metadata()).orientation, 6);
  const rgba = await sharp(fixture.b.data, { raw: { width, height, channels: 3 } }).ensureAlpha(0.5).png().toBuffer();
  checkCase(t, await evaluate(tagged, rgba), fixture, 'oriented');
});

test('CIEDE2000 of an image pair is the mean of the per-pixel differences', async (t) => {
  // Two 2x1 images: pixel differences computed one pixel at a time must average to the pair's.
  const a = { data: new Uint8Array([200, 30, 40, 10, 120, 250]), width: 2, height: 1, channels: 3 };
  const b = { data: new Uint8Array([190, 60, 20, 30, 100, 240]), width: 2, height: 1, channels: 3 };
  const pixel = (img, i) => ({ data: img.data.subarray(3 * i, 3 * i + 3), width: 1, height: 1, channels: 3 });
  const whole = await evaluate(a, b, { device: 'cpu' });
  const first = await evaluate(pixel(a, 0), pixel(b, 0), { device: 'cpu' });
  const second = await evaluate(pixel(a, 1), pixel(b, 1), { device: 'cpu' });
  t.true(first.ciede2000 > 1 && second.ciede2000 > 1);
  t.true(Math.abs(whole.ciede2000 - (first.ciede2000 + second.ciede2000) / 2) < 1e-12);
});

test('evaluate() rejects bad images with InvalidInputError', async (t) => {
  const img = (width, height, channels = 3, data = new Uint8Array(width * height * channels)) => ({ data, width, height, channels });
  const cases = [
    [img(4, 4), img(4, 5), /sizes differ/],
    [img(4, 4), img(4, 4, 3, new Uint8Array(47)), /48 are needed/],
    [{ data: new Uint8Array(0), width: 0, height: 4, channels: 3 }, img(4, 4), /width/],
    [img(4, 4, 2, new Uint8Array(32)), img(4, 4), /channels/],
    [img(2, 2, 3, new Float32Array([0, 0, NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0])), img(2, 2), /finite/],
    [img(2, 2, 3, new Float32Array(12)), img(2, 2, 3, new Float32Array(12).fill(Infinity)), /finite/],
    [img(2, 2, 3, new Uint16Array(12)), img(2, 2), /Uint8Array or Float32Array/],
    [Buffer.from('not an image'), img(2, 2), /not a readable image/],
    [Buffer.alloc(0), img(2, 2), /empty/],
    ['a.png', img(2, 2), /encoded image/],
  ];
  for (const [a, b, message] of cases) {
    const err = await t.throwsAsync(evaluate(a, b, { device: 'cpu' }), { instanceOf: InvalidInputError });
    t.is(err.code, 'ERR_FLWNET_INVALID_INPUT');
    t.regex(err.message, message);
  }
});

test('evaluate() rejects bad options with InvalidOptionError, and CUDA without it with DeviceError', async (t) => {
  const img = { data: new Uint8Array(12), width: 2, height: 2, channels: 3 };
  for (const options of [{ devcie: 'cpu' }, { device: 'gpu' }, { device: 'cuda:x' }, 'cpu', [1]]) {
    await t.throwsAsync(evaluate(img, img, options), { instanceOf: InvalidOptionError });
  }
  await t.throwsAsync(losses.l1(img, img, { threads: 2 }), { instanceOf: InvalidOptionError });
  if (!flwnet.gpuInfo().compiled) await t.throwsAsync(evaluate(img, img, { device: 'cuda' }), { instanceOf: DeviceError });
  await t.throwsAsync(evaluate(img, img, { device: 'cuda:99' }), { instanceOf: DeviceError });
});

// ---- flwnet eval ---------------------------------------------------------------------------------

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const runCli = (args, env = {}) =>
  promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, maxBuffer: 1 << 24 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

/** enhanced/ holds each case's a.png as <case>.png (one as .jpg-less .webp to check pairing by name). */
function evalDirs() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-eval-'));
  const enhanced = path.join(root, 'enhanced');
  const reference = path.join(root, 'reference');
  fs.mkdirSync(enhanced);
  fs.mkdirSync(reference);
  for (const fixture of lossFixtures()) {
    fs.writeFileSync(path.join(enhanced, `${fixture.name}.png`), fixture.aPng);
    fs.writeFileSync(path.join(reference, `${fixture.name}.PNG`), fixture.bPng);
  }
  fs.writeFileSync(path.join(enhanced, 'lonely.png'), lossFixtures()[0].aPng);
  fs.writeFileSync(path.join(reference, 'notes.txt'), 'not an image');
  return { root, enhanced, reference };
}

sharedTest('flwnet eval --json matches the golden cases and reports unpaired files', async (t) => {
  const { enhanced, reference } = evalDirs();
  const result = await runCli(['eval', '--enhanced', enhanced, '--reference', reference, '--json', '--device', 'cpu']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /unpaired.*lonely\.png/);
  const report = JSON.parse(result.stdout);
  const fixtures = lossFixtures();
  t.is(report.pairs.length, fixtures.length);
  t.deepEqual(report.unpaired, [path.join(enhanced, 'lonely.png')]);
  for (const fixture of fixtures) {
    const pair = report.pairs.find((p) => p.name === fixture.name);
    for (const [key, field] of Object.entries(FIELDS)) {
      if (key === 'psnr_db' && fixture.json.expected.psnr_db === null) t.is(pair.metrics.psnr, null);
      else near(t, pair.metrics[field], fixture.json.expected[key], fixture.json.tolerance, `${fixture.name} ${field}`);
    }
  }
  const meanL1 = fixtures.reduce((s, f) => s + f.json.expected.l1, 0) / fixtures.length;
  t.true(Math.abs(report.mean.l1 - meanL1) < 1e-9);
  t.is(report.mean.psnr, null, 'an identical pair makes the mean PSNR infinite');
});

sharedTest('flwnet eval prints a table by default and CSV with --csv', async (t) => {
  const { enhanced, reference } = evalDirs();
  const table = await runCli(['eval', '--enhanced', enhanced, '--reference', reference, '--device', 'cpu']);
  t.is(table.code, 0, table.stderr);
  const lines = table.stdout.trim().split('\n');
  t.regex(lines[0], /^image\s+psnr\s+ssim\s+ciede2000\s+l1/);
  t.regex(lines.at(-1), /^mean \(4\)/);
  t.regex(table.stdout, /identical\s+inf\s+1\.0000\s+0\.000/);
  const csv = await runCli(['eval', '--enhanced', enhanced, '--reference', reference, '--csv', '--device', 'cpu']);
  const rows = csv.stdout.trim().split('\n').map((line) => line.split(','));
  t.deepEqual(rows[0], ['name', 'psnr', 'ssim', 'ciede2000', 'l1', 'ssimLoss', 'color', 'brightness', 'structure', 'total', 'error']);
  const noisy = rows.find((r) => r[0] === 'noisy');
  near(t, Number(noisy[1]), lossFixtures().find((f) => f.name === 'noisy').json.expected.psnr_db, { relative: 1e-4, absolute: 1e-6 }, 'csv psnr');
});

sharedTest('flwnet eval: failures, usage errors and help', async (t) => {
  const { enhanced, reference } = evalDirs();
  fs.writeFileSync(path.join(enhanced, 'broken.png'), 'not a png');
  fs.writeFileSync(path.join(reference, 'broken.png'), lossFixtures()[0].bPng);
  const failed = await runCli(['eval', '--enhanced', enhanced, '--reference', reference, '--device', 'cpu']);
  t.is(failed.code, 1);
  t.regex(failed.stdout, /broken: failed: .*broken\.png/);
  t.regex(failed.stdout, /mean \(4\)/);
  for (const args of [['eval'], ['eval', '--enhanced', enhanced], ['eval', '--enhanced', enhanced, '--low', enhanced, '--reference', reference],
    ['eval', '--enhanced', enhanced, '--reference', reference, '--exposure', '0.5'], ['eval', '--enhanced', path.join(enhanced, 'nope'), '--reference', reference],
    ['eval', '--enhanced', enhanced, '--reference', reference, '--bogus']]) {
    const result = await runCli(args);
    t.is(result.code, 2, args.join(' '));
    t.is(result.stderr.trim().split('\n').length, 1);
  }
  const badDevice = await runCli(['eval', '--enhanced', enhanced, '--reference', reference, '--device', 'tpu']);
  t.is(badDevice.code, 2); // a bad option value is a usage error
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-eval-empty-'));
  t.is((await runCli(['eval', '--enhanced', empty, '--reference', reference])).code, 1);
  const help = await runCli(['eval', '--help']);
  t.is(help.code, 0);
  t.regex(help.stdout, /--reference <dir>/);
});

sharedTest('flwnet eval --low enhances with the reference exposure and evaluates the float output', async (t) => {
  const fixture = lossFixtures().find((f) => f.name === 'odd-17x9');
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-eval-low-'));
  fs.mkdirSync(path.join(root, 'low'));
  fs.mkdirSync(path.join(root, 'high'));
  fs.writeFileSync(path.join(root, 'low', 'x.png'), fixture.aPng);
  fs.writeFileSync(path.join(root, 'high', 'x.png'), fixture.bPng);
  const result = await runCli(['eval', '--low', path.join(root, 'low'), '--reference', path.join(root, 'high'), '--weights', weightsPath, '--device', 'cpu', '--json']);
  t.is(result.code, 0, result.stderr);
  const [pair] = JSON.parse(result.stdout).pairs;

  // The same steps through the API: exposure = mean of max(R, G, B) / 255 of the reference.
  const { data } = fixture.b;
  let sum = 0;
  for (let i = 0; i < data.length; i += 3) sum += Math.max(data[i], data[i + 1], data[i + 2]);
  const exposure = sum / (255 * (data.length / 3));
  t.true(Math.abs(pair.exposure - exposure) < 1e-12);
  const enhancer = await Enhancer.create({ weights: weightsPath, device: 'cpu' });
  try {
    const out = await enhancer.enhanceRaw(fixture.a, { exposure, output: 'float32' });
    const clamped = { ...out, data: out.data.map((v) => Math.min(1, Math.max(0, v))) };
    const expected = await evaluate(clamped, fixture.b, { device: 'cpu' });
    for (const key of Object.keys(expected)) t.true(Math.abs(pair.metrics[key] - expected[key]) <= 1e-12 * Math.max(1, Math.abs(expected[key])), key);
  } finally {
    await enhancer.close();
  }
});
