// Shared pieces of the GPU suite: whether a GPU is usable (when not, every test is registered as
// skipped with the reason in its title), the backend x precision matrix, engines shared within a
// test file, deterministic random images, and the agreement criteria of each precision.
import test from 'ava';
import { Enhancer, gpuInfo } from 'flwnet';
import { compareF32, compareU8, psnr } from '../helpers/compare.mjs';
import { haveShared, haveWeights, sharedDir, weightsPath } from '../helpers/shared.mjs';

/** Exact mode: float32 output within this of the CPU engine's. */
export const EXACT_MAX_ABS = 1e-4;
/** Fast mode: PSNR against the CPU engine's float32 output at least this. */
export const FAST_MIN_PSNR_DB = 45;
/** Fast mode: 8-bit output within this of the CPU engine's. */
export const FAST_U8_MAX_ABS = 4;

function probe() {
  let info;
  try {
    info = gpuInfo();
  } catch (err) {
    return { reason: `the flwnet addon did not load: ${err.message}` };
  }
  if (!info.compiled) return { info, reason: 'this flwnet build has no CUDA support (build with FLWNET_CUDA=ON)' };
  if (info.devices.length === 0) return { info, reason: `no usable CUDA device${info.error ? ` (${info.error})` : ''}` };
  if (!haveShared || !haveWeights) return { info, reason: `reference material not found at ${sharedDir} (set FLWNET_SHARED)` };
  return { info };
}

const probed = probe();
/** What gpuInfo() reported (undefined when the addon did not load). */
export const gpu = probed.info;
/** Why the GPU tests cannot run here, or undefined when they can. */
export const skipReason = probed.reason;

/**
 * A serial test (GPU tests share one device and large buffers) or, without a usable GPU, a skipped
 * test saying why.
 */
export function gpuTest(title, fn) {
  if (skipReason) return test.skip(`${title} — skipped: ${skipReason}`, () => {});
  return test.serial(title, fn);
}

/** Every GPU backend this build has, in both precisions. */
export function gpuConfigs() {
  const backends = gpu?.cudnnCompiled ? ['fused', 'cudnn'] : ['fused'];
  return backends.flatMap((backend) => ['exact', 'fast'].map((precision) => ({ backend, precision, label: `${backend}/${precision}` })));
}

const engines = new Map();

/** One Enhancer per engine setting, shared by a test file's tests; closed by closeEngines(). */
export function engineFor({ device = 'cuda:0', backend = 'fused', precision = 'exact', maxPixels } = {}) {
  const key = JSON.stringify([device, backend, precision, maxPixels]);
  if (!engines.has(key)) {
    const options = { weights: weightsPath, device, precision, maxPixels };
    if (device !== 'cpu') options.backend = backend;
    engines.set(key, Enhancer.create(options));
  }
  return engines.get(key);
}

export const cpuEngine = () => engineFor({ device: 'cpu' });

export async function closeEngines() {
  const all = [...engines.values()];
  engines.clear();
  await Promise.all(all.map((pending) => pending.then((e) => e.close(), () => undefined)));
}

/** A deterministic random image (xorshift32); `seed` also picks how dark it is. */
export function randomImage(width, height, { seed = 1, channels = 3 } = {}) {
  const data = new Uint8Array(width * height * channels);
  let s = (seed * 2654435761) >>> 0 || 1;
  const level = 48 + ((seed * 37) % 208); // brightest value, 48..255: mostly low-light
  for (let i = 0; i < data.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    data[i] = ((s >>> 24) * level) >>> 8;
  }
  return { data, width, height, channels };
}

/**
 * Checks a GPU float32 output against the CPU engine's for `precision`; returns
 * { ok, detail } so a test can report every configuration before failing.
 */
export function agreeF32(precision, actual, expected) {
  if (actual.length !== expected.length) return { ok: false, detail: `length ${actual.length} vs ${expected.length}` };
  if (precision === 'exact') {
    const { maxAbs } = compareF32(actual, expected);
    return { ok: maxAbs <= EXACT_MAX_ABS, detail: `max |diff| ${maxAbs.toExponential(3)} (limit ${EXACT_MAX_ABS})` };
  }
  const db = psnr(actual, expected);
  return { ok: db >= FAST_MIN_PSNR_DB, detail: `PSNR ${db.toFixed(2)} dB (limit ${FAST_MIN_PSNR_DB})` };
}

/** Checks GPU 8-bit output against the CPU's float32 output rounded as the SPEC rounds. */
export function agreeU8(precision, actual, expectedF32) {
  if (actual.length !== expectedF32.length) return { ok: false, detail: `length ${actual.length} vs ${expectedF32.length}` };
  const { maxAbs, mismatchFraction } = compareU8(actual, expectedF32);
  const off = Math.round(mismatchFraction * actual.length);
  if (precision === 'exact') {
    // 0.1% of the values, but at least one: on a tiny image a single value whose float lies within
    // rounding of a .5 boundary (the float check above bounds it) would otherwise be over 0.1%.
    const allowed = Math.max(1, Math.floor(actual.length * 0.001));
    return { ok: maxAbs <= 1 && off <= allowed, detail: `u8 max |diff| ${maxAbs}, ${off} of ${actual.length} values off (limits 1, ${allowed})` };
  }
  return { ok: maxAbs <= FAST_U8_MAX_ABS, detail: `u8 max |diff| ${maxAbs} (limit ${FAST_U8_MAX_ABS})` };
}

/** Whether two typed arrays hold the same bytes (bit-for-bit equal outputs). */
export function bitEqual(a, b) {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}
