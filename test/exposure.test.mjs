// Automatic exposure: the predictor's fit, its place in weights files (kept by the loader, refused
// when malformed), exposure 'auto' in the API and the CLI, and the package's default weights.
import test from 'ava';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { createRequire } from 'node:module';
import { packageRoot } from './helpers/shared.mjs';

const require = createRequire(import.meta.url);
const flwnet = require('../dist/index.js');
const { Enhancer, FlwnetWeights, FLWNET_PARAM_COUNT, loadWeights, toSafetensors, WeightsError, InvalidOptionError } = flwnet;
const exposure = require('../dist/exposure/index.js');
const { ExposurePredictor, fitExposurePredictor, EXPOSURE_FEATURE_COUNT, DEFAULT_WEIGHTS_PATH, MIN_EXPOSURE, MAX_EXPOSURE } = exposure;
const { writeSafetensors, readSafetensors } = require('../dist/weights/safetensors.js');

const cli = path.join(packageRoot, 'bin', 'flwnet.js');
const run = (args, env = {}) =>
  promisify(execFile)(process.execPath, [cli, ...args], { env: { ...process.env, ...env } }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );

/** Deterministic pseudo-random numbers in [0, 1). */
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** 15 global features of a made-up dark image: a histogram, vmin, vmax, and the (unused) exposure. */
function fakeFeatures(rand) {
  const hist = Array.from({ length: 12 }, () => rand());
  const sum = hist.reduce((a, b) => a + b, 0);
  const vmax = 0.05 + 0.5 * rand();
  return [...hist.map((h) => h / sum), 0.01 * rand(), vmax, 0.4];
}

function smallWeights(seed = 1) {
  const rand = lcg(seed);
  return FlwnetWeights.fromPacked(Float32Array.from({ length: FLWNET_PARAM_COUNT }, () => (rand() - 0.5) * 0.1));
}

function predictorFor(samples) {
  return fitExposurePredictor(samples.map(([features, target]) => ({ features, target })));
}

function darkImage(width = 64, height = 48, seed = 3) {
  const rand = lcg(seed);
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 40);
  return { data, width, height, channels: 3 };
}

test('the ridge fit recovers a relation the features determine, and predictions stay in range', (t) => {
  const rand = lcg(7);
  const samples = [];
  // A target that depends on vmax and the first bin through a logistic: the fit must find it.
  for (let i = 0; i < 400; i++) {
    const f = fakeFeatures(rand);
    samples.push([f, 1 / (1 + Math.exp(-(-1 + 3 * f[13] - 2 * f[0])))]);
  }
  const p = predictorFor(samples);
  const errors = samples.map(([f, y]) => Math.abs(p.predict(f) - y));
  t.true(Math.max(...errors) < 0.02, `largest error ${Math.max(...errors)}`);
  // A constant would be far worse: the features carry the signal.
  const mean = samples.reduce((s, [, y]) => s + y, 0) / samples.length;
  t.true(samples.some(([, y]) => Math.abs(y - mean) > 0.05));
  const extreme = p.predict([...Array(12).fill(0), 0, 100, 0]);
  t.true(extreme >= MIN_EXPOSURE && extreme <= MAX_EXPOSURE);
  t.throws(() => fitExposurePredictor([]), { instanceOf: WeightsError });
});

test('a weights file keeps its predictor through safetensors; packed parameters and their digest are unchanged', async (t) => {
  const rand = lcg(9);
  const p = predictorFor(Array.from({ length: 50 }, () => [fakeFeatures(rand), 0.2 + 0.4 * rand()]));
  const plain = smallWeights();
  const withPredictor = plain.withExposurePredictor(p);
  t.is(withPredictor.sha256(), plain.sha256());
  const loaded = await loadWeights(toSafetensors(withPredictor));
  t.truthy(loaded.exposurePredictor);
  const f = fakeFeatures(rand);
  t.is(loaded.exposurePredictor.predict(f), p.predict(f));
  t.deepEqual(Array.from(loaded.packed()), Array.from(plain.packed()));
  t.is((await loadWeights(toSafetensors(plain))).exposurePredictor, undefined);
});

test('the strict loader refuses malformed predictor tensors and unknown tensors', async (t) => {
  const rand = lcg(11);
  const p = predictorFor(Array.from({ length: 50 }, () => [fakeFeatures(rand), 0.2 + 0.4 * rand()]));
  const tensors = smallWeights().withExposurePredictor(p).fileTensors();
  const variant = async (change) => {
    const copy = new Map(tensors);
    change(copy);
    return loadWeights(writeSafetensors(copy));
  };
  await t.throwsAsync(variant((m) => m.set('exposure.extra', { shape: [1], data: Float32Array.of(1) })), { instanceOf: WeightsError, message: /unknown key exposure\.extra/ });
  await t.throwsAsync(variant((m) => m.delete('exposure.scale')), { instanceOf: WeightsError, message: /lacks exposure\.scale/ });
  await t.throwsAsync(variant((m) => m.set('exposure.weight', { shape: [3], data: Float32Array.of(1, 2, 3) })), { instanceOf: WeightsError, message: /exposure\.weight has shape \[3\]/ });
  await t.throwsAsync(variant((m) => m.set('exposure.bias', { shape: [1], data: Float32Array.of(Number.NaN) })), { instanceOf: WeightsError, message: /bias is not finite/ });
  const zeroScale = new Float32Array(EXPOSURE_FEATURE_COUNT);
  await t.throwsAsync(variant((m) => m.set('exposure.scale', { shape: [EXPOSURE_FEATURE_COUNT], data: zeroScale })), { instanceOf: WeightsError, message: /scale must be positive/ });
  await t.throwsAsync(variant((m) => m.set('g_conv9.bias', { shape: [1], data: Float32Array.of(0) })), { instanceOf: WeightsError, message: /unknown key g_conv9\.bias/ });
});

test("exposure 'auto' uses the weights' predictor: inspect reports it and enhanceRaw matches that number", async (t) => {
  const rand = lcg(13);
  const p = predictorFor(Array.from({ length: 60 }, () => [fakeFeatures(rand), 0.2 + 0.5 * rand()]));
  const enhancer = await Enhancer.create({ weights: smallWeights().withExposurePredictor(p), device: 'cpu', threads: 1 });
  try {
    t.is(enhancer.autoExposureSource, 'weights');
    const image = darkImage();
    const auto = await enhancer.inspect(image, { exposure: 'auto' });
    t.is(auto.exposurePredictor, 'weights');
    t.is(auto.exposure, p.predict(auto.features));
    t.is(auto.features.length, 15);
    t.true(Math.abs(auto.features[14] - auto.exposure) < 1e-6);
    const fixed = await enhancer.inspect(image, { exposure: 0.3 });
    t.is(fixed.exposure, 0.3);
    t.is(fixed.exposurePredictor, undefined);
    const a = await enhancer.enhanceRaw(image, { exposure: 'auto', output: 'float32' });
    const b = await enhancer.enhanceRaw(image, { exposure: auto.exposure, output: 'float32' });
    t.deepEqual(a.data, b.data);
    const png = await sharp(Buffer.from(image.data), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
    t.truthy(await enhancer.enhance(png, { exposure: 'auto' }));
    const many = [];
    for await (const r of enhancer.enhanceMany([png], { exposure: 'auto' })) many.push(r);
    t.true(many[0].ok);
    await t.throwsAsync(enhancer.enhanceRaw(image, { exposure: 'bright' }), { instanceOf: InvalidOptionError, message: /'auto' or a finite number/ });
  } finally {
    await enhancer.close();
  }
});

const haveDefault = fs.existsSync(DEFAULT_WEIGHTS_PATH);

test('the package ships default weights with an exposure predictor, used when no weights are given', async (t) => {
  t.true(haveDefault, `${DEFAULT_WEIGHTS_PATH} is missing`);
  const saved = process.env.FLWNET_WEIGHTS;
  delete process.env.FLWNET_WEIGHTS;
  try {
    const enhancer = await Enhancer.create({ device: 'cpu', threads: 1 });
    t.is(enhancer.weights.source, DEFAULT_WEIGHTS_PATH);
    t.truthy(enhancer.weights.exposurePredictor);
    t.is(enhancer.autoExposureSource, 'weights');
    await enhancer.close();
    // Weights without a predictor borrow the default weights' one.
    const other = await Enhancer.create({ weights: smallWeights(), device: 'cpu', threads: 1 });
    t.is(other.autoExposureSource, 'default');
    const result = await other.inspect(darkImage(), { exposure: 'auto' });
    t.is(result.exposurePredictor, 'default');
    await other.close();
    // The training record is in the metadata: seed, steps, data hashes.
    const { metadata } = readSafetensors(fs.readFileSync(DEFAULT_WEIGHTS_PATH));
    const record = JSON.parse(metadata.flwnet_training);
    t.is(typeof record.seed, 'number');
    t.true(record.step > 0);
    t.true(record.data.files.every((f) => /^[0-9a-f]{64}$/.test(f.sha256)));
    t.truthy(JSON.parse(metadata.flwnet_exposure).samples > 0);
  } finally {
    if (saved !== undefined) process.env.FLWNET_WEIGHTS = saved;
  }
});

test('the README command: flwnet enhance examples/dark.jpg with no weights option brightens it', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-exposure-'));
  const out = path.join(dir, 'bright.jpg');
  const input = path.join(packageRoot, 'examples', 'dark.jpg');
  t.true(fs.statSync(input).size < 150_000);
  const result = await run(['enhance', input, '-o', out, '--threads', '1', '--device', 'cpu'], { FLWNET_WEIGHTS: '' });
  t.is(result.code, 0, result.stderr);
  const mean = async (file) => {
    const { data } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
    let sum = 0;
    for (let i = 0; i < data.length; i += 3) sum += Math.max(data[i], data[i + 1], data[i + 2]);
    return sum / (data.length / 3) / 255;
  };
  const before = await mean(input);
  const after = await mean(out);
  t.true(after > before + 0.15, `mean brightness ${before} -> ${after}`);
  const auto = await run(['enhance', input, '-o', path.join(dir, 'auto.jpg'), '--exposure', 'auto', '--threads', '1', '--device', 'cpu'], { FLWNET_WEIGHTS: '' });
  t.is(auto.code, 0, auto.stderr);
  const bad = await run(['enhance', input, '-o', path.join(dir, 'x.jpg'), '--exposure', 'automatic']);
  t.is(bad.code, 2);
});

test('flwnet eval --exposure reference (the default) and auto report the exposure used and the reference brightness', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-exposure-eval-'));
  for (const side of ['low', 'high']) fs.mkdirSync(path.join(dir, side));
  const dark = darkImage(40, 40, 5);
  const bright = { ...dark, data: dark.data.map((v) => Math.min(255, v * 4 + 20)) };
  await sharp(Buffer.from(dark.data), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(dir, 'low', 'a.png'));
  await sharp(Buffer.from(bright.data), { raw: { width: 40, height: 40, channels: 3 } }).png().toFile(path.join(dir, 'high', 'a.png'));
  const evalJson = async (extra) => {
    const r = await run(['eval', '--low', path.join(dir, 'low'), '--reference', path.join(dir, 'high'), '--json', '--device', 'cpu', ...extra], { FLWNET_WEIGHTS: '' });
    t.is(r.code, 0, r.stderr);
    return JSON.parse(r.stdout).pairs[0];
  };
  const reference = await evalJson([]);
  t.true(Math.abs(reference.exposure - reference.referenceExposure) < 1e-12);
  t.is((await evalJson(['--exposure', 'reference'])).exposure, reference.exposure);
  const auto = await evalJson(['--exposure', 'auto']);
  t.is(auto.referenceExposure, reference.referenceExposure);
  t.not(auto.exposure, reference.exposure);
  t.is((await evalJson(['--exposure', '0.3'])).exposure, 0.3);
});

test('flwnet train fits the exposure predictor after the network and stores it in the weights it writes', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-exposure-train-'));
  const photos = path.join(dir, 'photos');
  fs.mkdirSync(photos);
  for (let i = 0; i < 3; i++) {
    const rand = lcg(100 + i);
    const data = Buffer.alloc(96 * 80 * 3);
    for (let j = 0; j < data.length; j++) data[j] = Math.floor(60 + 150 * rand() * ((j % 7) / 7));
    await sharp(data, { raw: { width: 96, height: 80, channels: 3 } }).png().toFile(path.join(photos, `p${i}.png`));
  }
  const out = path.join(dir, 'run.safetensors');
  const result = await run(['train', '--photos', photos, '-o', out, '--steps', '2', '--batch', '2', '--crop', '32', '--threads', '1', '--val-split', '0']);
  t.is(result.code, 0, result.stderr);
  t.regex(result.stderr, /exposure predictor: 96 samples/);
  const weights = await loadWeights(out);
  t.truthy(weights.exposurePredictor);
  const { metadata } = readSafetensors(fs.readFileSync(out));
  t.is(JSON.parse(metadata.flwnet_exposure).samples, 96);
  t.is(JSON.parse(metadata.flwnet_training).step, 2);
});
