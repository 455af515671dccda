// The Trainer API: random initialisation, custom steps, fit() on real photos (the loss falls),
// resume equivalence (N steps = N/2 + abort + resume + N/2, bit for bit), determinism for a seed,
// divergence handling, checkpoints, and bad options.
import test from 'ava';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { sharedDir } from './helpers/shared.mjs';

const require = createRequire(import.meta.url);
const flwnet = require('../dist/index.js');
const { Trainer, randomWeights, Enhancer, FlwnetWeights, FLWNET_WEIGHT_SCHEMA, lossAndGradients, loadWeights } = flwnet;
const data = require('../dist/train/data.js');
const { loadNative } = require('../dist/native.js');

const photosDir = path.join(sharedDir, 'training', 'photos');
const havePhotos = fs.existsSync(photosDir);

function nativeTrainerProblem() {
  try {
    return typeof loadNative().Trainer === 'function' ? undefined : 'the native addon has no Trainer (rebuild it: npm run build)';
  } catch (err) {
    return `the native addon is unavailable: ${err.message.split('\n')[0]}`;
  }
}
const trainerProblem = nativeTrainerProblem();

/** A test that needs the native training core; skipped with the reason when the addon lacks it. */
function trainerTest(title, fn) {
  if (trainerProblem) return test.skip(`${title} — skipped: ${trainerProblem}`, () => {});
  return test(title, fn);
}

function tmpdir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flwnet-train-loop-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function gradientImage(width, height, phase) {
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      out[i] = 40 + (x * 200) / width;
      out[i + 1] = 30 + (y * 180) / height;
      out[i + 2] = 128 + 90 * Math.sin((x - y + phase) / 7);
    }
  }
  return out;
}

function memorySet(count = 3, width = 64, height = 48) {
  const images = Array.from({ length: count }, (_, i) => ({ name: `im${i}`, width, height, high: gradientImage(width, height, i * 17) }));
  return { kind: 'photos', images, files: images.map((im) => ({ file: im.name, sha256: String(im.name) })), hash: 'memory-set' };
}

const SMALL = { batch: 3, crop: 24, valSplit: 0, lr: 2e-3, warmup: 1 };

test('random initialisation is Kaiming-uniform (PyTorch Conv2d default), seeded, and loads into an Enhancer', async (t) => {
  const a = randomWeights(7);
  const b = randomWeights(7);
  t.is(a.sha256(), b.sha256());
  t.not(a.sha256(), randomWeights(8).sha256());
  let fanIn = 1;
  for (const [name, shape] of FLWNET_WEIGHT_SCHEMA) {
    if (name.endsWith('.weight')) fanIn = shape.slice(1).reduce((x, y) => x * y, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const values = a.tensors.get(name).data;
    const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    t.true(max <= bound, `${name}: ${max} > ${bound}`);
    if (values.length >= 100) t.true(max > 0.9 * bound, `${name} uses its range`);
  }
  const enhancer = await Enhancer.create({ weights: a, device: 'cpu', threads: 1 });
  const out = await enhancer.enhanceRaw({ data: gradientImage(40, 40, 0), width: 40, height: 40, channels: 3 }, { exposure: 0.4 });
  t.is(out.data.length, 40 * 40 * 3);
  await enhancer.close();
});

trainerTest('step() trains a custom batch, weights() feeds an Enhancer, save() writes loadable files', async (t) => {
  const dir = tmpdir(t);
  const trainer = await Trainer.create({ init: 'random', seed: 2, threads: 2 });
  t.teardown(() => trainer.close());
  const set = memorySet();
  const spec = data.checkBatchSpec({ seed: 2, batch: 2, crop: 24 }, set);
  const before = trainer.weights().sha256();
  const result = await trainer.step(await data.makeBatch(set.images, spec, 0), { lr: 1e-3 });
  t.true(result.applied);
  t.true(Number.isFinite(result.losses.total) && result.losses.total > 0);
  const after = trainer.weights();
  t.not(after.sha256(), before);
  const enhancer = await Enhancer.create({ weights: after, device: 'cpu', threads: 1 });
  await enhancer.close();
  const file = path.join(dir, 'w.safetensors');
  await trainer.save(file);
  t.is((await loadWeights(file)).sha256(), after.sha256());
  t.true(fs.existsSync(path.join(dir, 'w.optim.safetensors')));
  t.is(trainer.optimizerState().step, 1);
});

const photoTest = havePhotos ? trainerTest : (title) => test.skip(`${title} — skipped: training photos not found at ${photosDir} (set FLWNET_SHARED)`, () => {});

photoTest('a short run on real photos lowers the loss of a fixed held-out batch and reports validation', async (t) => {
  const trainer = await Trainer.create({ init: 'random', seed: 1, threads: 2 });
  t.teardown(() => trainer.close());
  const set = await data.loadPhotoSet(photosDir, { maxSide: 256 });
  const probe = await data.makeBatch(set.images, data.checkBatchSpec({ seed: 99, batch: 8, crop: 48 }, set), 0);
  const initial = (await lossAndGradients(trainer.weights(), probe, { threads: 2 })).losses.total;
  const run = trainer.fit({ data: set, steps: 30, batch: 8, crop: 32, lr: 3e-3, warmup: 2, valSplit: 0.1, valEvery: 30 });
  const records = [];
  for await (const r of run) records.push(r);
  const result = await run.result;
  t.is(result.stopped, 'completed');
  t.is(result.step, 30);
  t.is(records.filter((r) => r.type === 'step').length, 30);
  const validations = records.filter((r) => r.type === 'validation');
  t.deepEqual(validations.map((v) => v.step), [0, 30]);
  t.true(validations.every((v) => Number.isFinite(v.psnr) && v.ssim > 0 && v.ssim <= 1));
  const final = (await lossAndGradients(result.weights, probe, { threads: 2 })).losses.total;
  t.log(`held-out batch loss ${initial.toFixed(4)} -> ${final.toFixed(4)}; validation PSNR ${validations[0].psnr.toFixed(2)} -> ${validations[1].psnr.toFixed(2)} dB`);
  t.true(final < 0.95 * initial, `loss ${initial} -> ${final}`);
});

async function fitTo(trainer, options) {
  const run = trainer.fit(options);
  return run.result;
}

trainerTest('resuming an interrupted run gives bit-identical weights to an uninterrupted one', async (t) => {
  const dir = tmpdir(t);
  const set = memorySet();
  const steps = 8;
  const whole = await Trainer.create({ init: 'random', seed: 5, threads: 2 });
  const full = await fitTo(whole, { data: set, steps, ...SMALL, out: path.join(dir, 'full.safetensors') });
  whole.close();
  t.is(full.stopped, 'completed');

  const out = path.join(dir, 'part.safetensors');
  const first = await Trainer.create({ init: 'random', seed: 5, threads: 2 });
  const controller = new AbortController();
  const run = first.fit({ data: set, steps, ...SMALL, out, signal: controller.signal });
  run.on('step', (r) => { if (r.step === steps / 2) controller.abort(); });
  const half = await run.result;
  first.close();
  t.is(half.stopped, 'aborted');
  t.is(half.step, steps / 2);
  t.regex(half.message, /stopped at step 4.*resumes it/);

  const second = await Trainer.create({ resume: out, threads: 2 });
  t.is(second.nextBatch, steps / 2);
  const resumed = await fitTo(second, { data: set, steps, ...SMALL, out });
  second.close();
  t.is(resumed.stopped, 'completed');
  t.is(resumed.step, steps);
  t.is(resumed.weights.sha256(), full.weights.sha256());
  t.is((await loadWeights(out)).sha256(), full.weights.sha256());

  // Resuming with options that change the trajectory is refused.
  const again = await Trainer.create({ resume: path.join(dir, 'full.safetensors'), threads: 2 });
  t.teardown(() => again.close());
  const bad = again.fit({ data: set, steps, ...SMALL, batch: 4 });
  await t.throwsAsync(bad.result, { code: 'ERR_FLWNET_INVALID_OPTION', message: /batch differ/ });
});

trainerTest('the same seed gives the same weights; another seed does not', async (t) => {
  const set = memorySet();
  const train = async (seed) => {
    const trainer = await Trainer.create({ init: 'random', seed, threads: 2 });
    const result = await fitTo(trainer, { data: set, steps: 3, ...SMALL });
    trainer.close();
    return result.weights.sha256();
  };
  const [a, b, c] = [await train(3), await train(3), await train(4)];
  t.is(a, b);
  t.not(a, c);
});

trainerTest('a diverging run stops after a few non-finite steps and keeps the last good weights', async (t) => {
  const dir = tmpdir(t);
  const huge = new Float32Array(flwnet.FLWNET_PARAM_COUNT).fill(3e38);
  const trainer = await Trainer.create({ init: huge, seed: 1, threads: 2 });
  t.teardown(() => trainer.close());
  const out = path.join(dir, 'div.safetensors');
  const records = [];
  const run = trainer.fit({ data: memorySet(), steps: 20, ...SMALL, maxBadSteps: 3, out });
  for await (const r of run) records.push(r);
  const result = await run.result;
  t.is(result.stopped, 'diverged');
  t.is(result.step, 3);
  t.regex(result.message, /diverged: 3 consecutive steps .* last good step, saved to/);
  t.true(records.filter((r) => r.type === 'step').every((r) => r.applied === false));
  t.is((await loadWeights(out)).sha256(), FlwnetWeights.fromPacked(huge).sha256());
});

trainerTest('bad options and inputs are refused with typed errors before training', async (t) => {
  const trainer = await Trainer.create({ init: 'random', seed: 1, threads: 1 });
  t.teardown(() => trainer.close());
  const set = memorySet(2, 40, 30);
  const bad = [
    [{ data: set, steps: 0 }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: set, steps: 5, lr: Number.NaN }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: set, steps: 5, lr: -1 }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: set, steps: 5, crop: 35 }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: set, steps: 5, batch: 2.5 }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: set, steps: 5, warmup: 5 }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: set, steps: 5, stepz: 5 }, 'ERR_FLWNET_INVALID_OPTION'],
    [{ data: { photos: '/nonexistent/flwnet' }, steps: 5 }, 'ERR_FLWNET_INVALID_INPUT'],
    [{ data: 'photos', steps: 5 }, 'ERR_FLWNET_INVALID_OPTION'],
  ];
  for (const [options, code] of bad) {
    await t.throwsAsync(trainer.fit(options).result, { code }, JSON.stringify({ ...options, data: undefined }));
  }
  await t.throwsAsync(() => Trainer.create({ device: 'cuda' }), { code: 'ERR_FLWNET_INVALID_OPTION' });
  await t.throwsAsync(() => Trainer.create({ seed: -3 }), { code: 'ERR_FLWNET_INVALID_OPTION' });
  await t.throwsAsync(() => Trainer.create({ adam: { beta1: 2 } }), { code: 'ERR_FLWNET_INVALID_OPTION' });
  await t.throwsAsync(() => Trainer.create({ adam: { momentum: 0.9 } }), { code: 'ERR_FLWNET_INVALID_OPTION' });
  await t.throwsAsync(() => Trainer.create({ resume: '/nonexistent/run.safetensors' }), { code: 'ERR_FLWNET_WEIGHTS' });
  await t.throwsAsync(() => trainer.step([], { lr: 1e-3 }), { code: 'ERR_FLWNET_INVALID_INPUT' });
});

trainerTest('validation can come from paired directories and trains on real pairs', async (t) => {
  const dir = tmpdir(t);
  const sharp = (await import('sharp')).default;
  for (const sub of ['train/low', 'train/high', 'val/low', 'val/high']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
  const write = (file, phase, dark) => {
    const px = Buffer.from(gradientImage(48, 40, phase).map((v) => (dark ? v >> 3 : v)));
    return sharp(px, { raw: { width: 48, height: 40, channels: 3 } }).png().toFile(path.join(dir, file));
  };
  for (const [name, phase] of [['a', 1], ['b', 9]]) {
    await write(`train/low/${name}.png`, phase, true);
    await write(`train/high/${name}.png`, phase, false);
  }
  await write('val/low/v.png', 4, true);
  await write('val/high/v.png', 4, false);
  const trainer = await Trainer.create({ init: 'random', seed: 1, threads: 2 });
  t.teardown(() => trainer.close());
  const run = trainer.fit({
    data: { low: path.join(dir, 'train/low'), high: path.join(dir, 'train/high') },
    validation: [{ low: path.join(dir, 'val/low'), high: path.join(dir, 'val/high') }],
    steps: 2, batch: 2, crop: 24, valEvery: 2,
  });
  const validations = [];
  run.on('validation', (v) => validations.push(v));
  const result = await run.result;
  t.is(result.stopped, 'completed');
  t.is(result.trainImages, 2); // no split: --val given
  t.is(result.validationImages, 1);
  t.deepEqual(validations.map((v) => v.step), [0, 2]);
  t.true(validations.every((v) => Number.isFinite(v.psnr)));
});
