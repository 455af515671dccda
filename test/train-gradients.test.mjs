// The native training core (docs/numerics.md §9): losses and gradients against the golden float64
// autograd cases, a finite-difference check, bit-identical results for any thread count, Adam's
// update, and the bad-input matrix.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import * as flwnet from 'flwnet';
import { packageRoot, sharedDir, sharedTest } from './helpers/shared.mjs';

const { FlwnetWeights, FLWNET_PARAM_COUNT, FLWNET_WEIGHT_SCHEMA } = flwnet;
const { InvalidInputError, InvalidOptionError, ClosedError, AbortError } = flwnet;
const nativeTrainer = await import(path.join(packageRoot, 'dist', 'train', 'native-trainer.js'));
const { TrainerCore, lossAndGradients, weightedLossAndGradients, AUTHORS_ADAM } = nativeTrainer;

const LOSS_KEYS = { l1: 'l1', ssim_loss: 'ssimLoss', color: 'color', brightness: 'brightness', structure: 'structure', total: 'total' };
const ONE_HOT = ['l1', 'ssim_loss', 'color', 'brightness', 'structure'];

/** A safetensors file's tensors as typed arrays (F32 or F64). */
function readSafetensorsAny(file) {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const out = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const [begin, end] = entry.data_offsets;
    const bytes = buf.subarray(8 + n + begin, 8 + n + end);
    const copy = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
    out[name] = entry.dtype === 'F64' ? new Float64Array(copy) : new Float32Array(copy);
  }
  return out;
}

function trainingCases() {
  const root = path.join(sharedDir, 'fixtures', 'training');
  if (!fs.existsSync(root)) return [];
  return fs.readdirSync(root).sort().map((name) => {
    const dir = path.join(root, name);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'case.json'), 'utf8'));
    const image = (file, item) => ({ data: new Uint8Array(fs.readFileSync(path.join(dir, file))), width: item.width, height: item.height, channels: 3 });
    const batch = json.batch.map((item) => ({ low: image(item.low, item), high: image(item.high, item) }));
    const weights = readSafetensorsAny(path.join(dir, json.weights));
    const packed = new Float32Array(FLWNET_PARAM_COUNT);
    let offset = 0;
    for (const [key, shape] of FLWNET_WEIGHT_SCHEMA) {
      packed.set(weights[key], offset);
      offset += shape.reduce((a, b) => a * b, 1);
    }
    return { name, dir, json, batch, params: packed };
  });
}

/** Largest per-tensor ||g - ref|| / ||ref|| (absolute where ref is 0), and where. */
function worstTensorError(gradients, reference) {
  let worst = { ratio: 0, name: '' };
  for (const [name, ref] of Object.entries(reference)) {
    const ours = gradients[name];
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < ref.length; i++) {
      diff += (ours[i] - ref[i]) ** 2;
      norm += ref[i] ** 2;
    }
    const ratio = norm === 0 ? (Math.sqrt(diff) <= 1e-9 ? 0 : Infinity) : Math.sqrt(diff) / Math.sqrt(norm);
    if (ratio > worst.ratio) worst = { ratio, name };
  }
  return worst;
}

// Every instruction-set path this processor runs is held to the golden cases. Awaited before any
// test is declared: once one is, ava starts the file at its next await and refuses any declared later.
const { cpuIsas } = (await import(path.join(packageRoot, 'dist', 'native.js'))).loadNative();

const cases = trainingCases();
if (cases.length === 0) test.skip(`golden training cases — skipped: no cases in ${path.join(sharedDir, 'fixtures', 'training')}`, () => {});

for (const c of cases) for (const cpuIsa of cpuIsas) {
  sharedTest(`golden training case ${c.name} (${cpuIsa}): losses and total gradient`, async (t) => {
    const tol = c.json.tolerance;
    const { losses, gradients } = await lossAndGradients(c.params, c.batch, { threads: 2, cpuIsa });
    for (const [key, expected] of Object.entries(c.json.losses)) {
      const rel = Math.abs(losses[LOSS_KEYS[key]] - expected) / Math.abs(expected);
      t.true(rel <= tol.loss_relative, `${key}: ${losses[LOSS_KEYS[key]]} vs ${expected} (relative error ${rel})`);
    }
    const reference = readSafetensorsAny(path.join(c.dir, c.json.gradients.total));
    const worst = worstTensorError(gradients, reference);
    t.true(worst.ratio <= tol.gradient_relative_l2_per_tensor, `worst tensor ${worst.name}: ${worst.ratio}`);
    t.log(`worst relative gradient error ${worst.ratio.toExponential(2)} (${worst.name})`);
  });
}

for (const c of cases) {
  sharedTest(`golden training case ${c.name}: each loss's gradient`, async (t) => {
    const tol = c.json.tolerance.gradient_relative_l2_per_tensor;
    for (const key of ONE_HOT) {
      const lossWeights = ONE_HOT.map((k) => (k === key ? 1 : 0));
      const { gradients } = await weightedLossAndGradients(c.params, c.batch, lossWeights, { threads: 2 });
      const worst = worstTensorError(gradients, readSafetensorsAny(path.join(c.dir, c.json.gradients[key])));
      t.true(worst.ratio <= tol, `${key}: worst tensor ${worst.name}: ${worst.ratio}`);
    }
  });
}

// ---- A random tiny case (no reference material needed) -------------------------------------------

function rng(seed) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Kaiming-uniform-like random weights with positive biases on e7 (a bright enough start). */
function randomParams(seed) {
  const next = rng(seed);
  const params = new Float32Array(FLWNET_PARAM_COUNT);
  let offset = 0;
  for (const [, shape] of FLWNET_WEIGHT_SCHEMA) {
    const count = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? shape.slice(1).reduce((a, b) => a * b, 1) : 16;
    const bound = 1 / Math.sqrt(fanIn);
    for (let i = 0; i < count; i++) params[offset + i] = (next() * 2 - 1) * bound;
    offset += count;
  }
  return params;
}

function randomBatch(seed, count, width, height) {
  const next = rng(seed);
  const image = (scale) => ({
    data: Uint8Array.from({ length: width * height * 3 }, () => Math.floor(next() * scale)),
    width, height, channels: 3,
  });
  return Array.from({ length: count }, () => ({ low: image(90), high: image(256) }));
}

function offsetOf(name) {
  let offset = 0;
  for (const [key, shape] of FLWNET_WEIGHT_SCHEMA) {
    if (key === name) return offset;
    offset += shape.reduce((a, b) => a * b, 1);
  }
  throw new Error(name);
}

test('finite differences agree with the analytic gradient (SSIM + colour)', async (t) => {
  // Brightness and structure subtract per-channel minima that the gradient holds constant, so a
  // finite difference of them would also see the minima move; they are checked by the golden cases.
  const lossWeights = [0, 1, 1, 0, 0];
  const params = randomParams(7);
  // Positive GFE biases keep its LeakyReLUs in the linear range, so the curve parameters (and the
  // GFE's gradient) are far from zero and the check sees them.
  for (let l = 1; l <= 5; l++) {
    const name = `g_conv${l}.point_conv.bias`;
    const at = offsetOf(name);
    for (let i = 0; i < (l === 5 ? 7 : 16); i++) params[at + i] = 0.3;
  }
  const batch = randomBatch(11, 2, 23, 17);
  const { gradients } = await weightedLossAndGradients(params, batch, lossWeights, { threads: 2 });
  const next = rng(3);
  const objective = async (p) => {
    const { losses } = await weightedLossAndGradients(p, batch, lossWeights, { threads: 2 });
    return losses.ssimLoss + losses.color;
  };
  const names = ['e_conv1.depth_conv.weight', 'e_conv3.depth_conv.weight', 'e_conv5.depth_conv.weight', 'e_conv6.depth_conv.weight',
    'e_conv7.depth_conv.weight', 'e_conv7.depth_conv.bias', 'g_conv5.point_conv.bias', 'g_conv3.point_conv.weight', 'g_conv1.point_conv.weight'];
  for (const name of names) {
    // A random entry among the tensor's ten largest gradients (so the difference is well above noise).
    const g = gradients[name];
    const top = [...g.keys()].sort((a, b) => Math.abs(g[b]) - Math.abs(g[a])).slice(0, 10);
    const index = top[Math.floor(next() * top.length)];
    const at = offsetOf(name) + index;
    // The GFE's gradients are small, so its steps are larger (it is smooth there: positive pre-activations).
    const h = name.startsWith('g_') ? 1.5e-2 : Math.max(4e-3, Math.abs(params[at]) * 2e-2);
    const plus = params.slice();
    const minus = params.slice();
    plus[at] = Math.fround(params[at] + h);
    minus[at] = Math.fround(params[at] - h);
    const fd = ((await objective(plus)) - (await objective(minus))) / (plus[at] - minus[at]);
    const analytic = g[index];
    t.log(`${name}[${index}]: finite difference ${fd.toExponential(5)}, analytic ${analytic.toExponential(5)}`);
    t.true(Math.abs(analytic) > 1e-6, `${name}[${index}]: gradient ${analytic} too small to check`);
    // The GFE's finite differences move r at every pixel, so many LeakyReLU kinks downstream are
    // crossed: a looser bound there (it still catches sign, factor and wiring errors).
    const tolerance = name.startsWith('g_') ? 0.25 : 5e-2;
    t.true(Math.abs(fd - analytic) <= tolerance * Math.abs(analytic), `${name}[${index}]: finite difference ${fd}, analytic ${analytic}`);
  }
});

function bitsEqual(a, b) {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

const THREAD_COUNTS = [1, 2, 3, 7, 16];

test('gradients and trained weights are bit-identical for 1, 2, 3, 7 and 16 threads and across runs', async (t) => {
  const params = randomParams(21);
  // 5 images of 31x26: the work units are images and row bands, so 16 threads leave some idle.
  const batch = randomBatch(5, 3, 31, 26);
  const one = await lossAndGradients(params, batch, { threads: 1 });
  for (const threads of THREAD_COUNTS.slice(1)) {
    const other = await lossAndGradients(params, batch, { threads });
    for (const name of Object.keys(one.gradients)) {
      t.true(bitsEqual(one.gradients[name], other.gradients[name]), `${name}: 1 vs ${threads} threads`);
    }
    t.deepEqual(one.losses, other.losses, `losses: 1 vs ${threads} threads`);
  }
  const again = await lossAndGradients(params, batch, { threads: 2 });
  for (const name of Object.keys(one.gradients)) t.true(bitsEqual(one.gradients[name], again.gradients[name]), `${name}: run to run`);
  const train = async (threads) => {
    const core = TrainerCore.create({ params, threads, adam: { ...AUTHORS_ADAM, clipGradNorm: 1 } });
    for (let i = 0; i < 3; i++) t.true((await core.step(batch, 1e-3)).applied);
    const out = { params: core.params(), state: core.optimizerState() };
    core.close();
    return out;
  };
  const a = await train(1);
  for (const threads of [2, 7]) {
    const b = await train(threads);
    t.true(bitsEqual(a.params, b.params), `trained weights: 1 vs ${threads} threads`);
    t.true(bitsEqual(a.state.m, b.state.m) && bitsEqual(a.state.v, b.state.v), `Adam moments: 1 vs ${threads} threads`);
  }
  t.is(a.state.step, 3);
  t.false(bitsEqual(a.params, params), 'training changed the weights');
});

test('one Adam step matches the formula (L2 weight decay, clipping) and AdamW decays decoupled', async (t) => {
  const params = randomParams(33);
  const batch = randomBatch(9, 2, 20, 20);
  const { gradients } = await lossAndGradients(params, batch, { threads: 2 });
  const grad = new Float64Array(FLWNET_PARAM_COUNT);
  let offset = 0;
  for (const [name] of FLWNET_WEIGHT_SCHEMA) {
    grad.set(gradients[name], offset);
    offset += gradients[name].length;
  }
  const norm = Math.sqrt(grad.reduce((s, g) => s + g * g, 0));
  const lr = 1e-3;
  const wd = 1e-2;
  const clip = norm / 4;
  const scale = clip / (norm + 1e-6);
  for (const decoupled of [false, true]) {
    const core = TrainerCore.create({ params, threads: 2, adam: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: wd, decoupledWeightDecay: decoupled, clipGradNorm: clip } });
    const result = await core.step(batch, lr);
    t.true(Math.abs(result.gradNorm - norm) <= 1e-12 * norm);
    const after = core.params();
    const { m, v, step } = core.optimizerState();
    t.is(step, 1);
    let worst = 0;
    for (let i = 0; i < FLWNET_PARAM_COUNT; i++) {
      const p = params[i];
      const g = grad[i] * scale + (decoupled ? 0 : wd * p);
      const start = decoupled ? p * (1 - lr * wd) : p;
      const mi = 0.1 * g;
      const vi = 0.001 * g * g;
      const expected = start - (lr / 0.1) * mi / (Math.sqrt(vi) / Math.sqrt(0.001) + 1e-8);
      worst = Math.max(worst, Math.abs(after[i] - expected) / (Math.abs(expected) + 1e-6));
      if (i % 997 === 0) {
        t.true(Math.abs(m[i] - mi) <= 1e-6 * Math.abs(mi) + 1e-30, `m[${i}]`);
        t.true(Math.abs(v[i] - vi) <= 1e-6 * Math.abs(vi) + 1e-30, `v[${i}]`);
      }
    }
    t.true(worst <= 1e-6, `worst relative parameter error ${worst}`);
    core.close();
  }
});

test('optimizer state round-trips through setOptimizerState', async (t) => {
  const params = randomParams(41);
  const batch = randomBatch(2, 1, 16, 12);
  const a = TrainerCore.create({ params, threads: 1, adam: AUTHORS_ADAM });
  await a.step(batch, 1e-3);
  const b = TrainerCore.create({ params: a.params(), threads: 2, adam: AUTHORS_ADAM });
  b.setOptimizerState(a.optimizerState());
  await a.step(batch, 1e-3);
  await b.step(batch, 1e-3);
  t.true(bitsEqual(a.params(), b.params()));
  t.deepEqual(a.optimizerState(), b.optimizerState());
  a.close();
  b.close();
});

test('bad batches, hyper-parameters, aborts and a closed trainer give typed errors', async (t) => {
  const params = randomParams(1);
  const good = randomBatch(3, 2, 12, 10);
  const core = TrainerCore.create({ params, threads: 2, adam: AUTHORS_ADAM });
  await t.throwsAsync(core.step([], 1e-3), { instanceOf: InvalidInputError });
  await t.throwsAsync(core.step([{ low: good[0].low, high: randomBatch(4, 1, 11, 10)[0].high }], 1e-3), { instanceOf: InvalidInputError });
  await t.throwsAsync(core.step([good[0], randomBatch(4, 1, 12, 11)[0]], 1e-3), { instanceOf: InvalidInputError });
  await t.throwsAsync(core.step([{ ...good[0], low: { ...good[0].low, channels: 4 } }], 1e-3), { instanceOf: InvalidInputError });
  await t.throwsAsync(core.step([{ ...good[0], low: { ...good[0].low, data: good[0].low.data.subarray(1) } }], 1e-3), { instanceOf: InvalidInputError });
  await t.throwsAsync(core.step([{ ...good[0], exposure: Number.NaN }], 1e-3), { instanceOf: InvalidInputError });
  const huge = { data: new Uint8Array(3000 * 3000 * 3), width: 3000, height: 3000, channels: 3 };
  await t.throwsAsync(core.step([{ low: huge, high: huge }], 1e-3), { instanceOf: InvalidInputError, message: /at most/ });
  await t.throwsAsync(core.step(good, Number.NaN), { instanceOf: InvalidOptionError });
  await t.throwsAsync(core.step(good, -1), { instanceOf: InvalidOptionError });
  const aborted = AbortSignal.abort();
  await t.throwsAsync(core.step(good, 1e-3, aborted), { instanceOf: AbortError });
  t.true(bitsEqual(core.params(), params), 'failed steps leave the weights untouched');
  const controller = new AbortController();
  const pending = core.step(randomBatch(8, 4, 64, 64), 1e-3, controller.signal);
  controller.abort();
  await t.throwsAsync(pending, { instanceOf: AbortError });
  t.true(bitsEqual(core.params(), params), 'an aborted step leaves the weights untouched');
  core.close();
  await t.throwsAsync(core.step(good, 1e-3), { instanceOf: ClosedError });
  t.throws(() => core.params(), { instanceOf: ClosedError });
  for (const adam of [{ ...AUTHORS_ADAM, beta1: 1 }, { ...AUTHORS_ADAM, eps: 0 }, { ...AUTHORS_ADAM, weightDecay: -1 },
    { ...AUTHORS_ADAM, clipGradNorm: Number.NaN }, { ...AUTHORS_ADAM, decoupledWeightDecay: 'yes' }, undefined]) {
    t.throws(() => TrainerCore.create({ params, adam }), { instanceOf: InvalidOptionError });
  }
  t.throws(() => TrainerCore.create({ params: params.subarray(1), adam: AUTHORS_ADAM }), { instanceOf: InvalidOptionError });
  t.throws(() => TrainerCore.create({ params, threads: 0, adam: AUTHORS_ADAM }), { instanceOf: InvalidOptionError });
  const nanParams = params.slice();
  nanParams[5] = Number.NaN;
  t.throws(() => TrainerCore.create({ params: nanParams, adam: AUTHORS_ADAM }), { instanceOf: InvalidOptionError });
  await t.throwsAsync(lossAndGradients(params, []), { instanceOf: InvalidInputError });
  await t.throwsAsync(lossAndGradients(nanParams, good), { instanceOf: InvalidOptionError });
  t.true(FlwnetWeights.fromPacked(params) instanceof FlwnetWeights);
  const viaWeights = await lossAndGradients(FlwnetWeights.fromPacked(params), good, { threads: 1 });
  t.true(Number.isFinite(viaWeights.losses.total));
});

test('params() and optimizerState() answer at once while a step is in flight', async (t) => {
  const params = randomParams(51);
  const core = TrainerCore.create({ params, threads: 1, adam: AUTHORS_ADAM });
  const pending = core.step(randomBatch(6, 8, 160, 160), 1e-3);  // several hundred ms on one thread
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t0 = performance.now();
  const during = core.params();
  core.optimizerState();
  t.true(performance.now() - t0 < 100, 'not blocked by the step');
  t.true(bitsEqual(during, params), 'the weights before the step');
  t.true((await pending).applied);
  t.false(bitsEqual(core.params(), params));
  core.close();
});
