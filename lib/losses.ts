/**
 * The paper's losses and the usual quality metrics for an enhanced image against a reference
 * (docs/numerics.md §8), computed natively in one pass over the pixels on the CPU or a GPU.
 *
 *   const m = await evaluate(enhancedPng, referencePng);  // { psnr, ssim, ciede2000, l1, ... }
 *   const l = await losses.total(enhancedPng, referencePng);
 *
 * Images are encoded Buffers (any format sharp reads; EXIF orientation applied) or raw
 * interleaved pixels { data, width, height, channels } with uint8 samples (value / 255) or float32
 * samples in [0, 1]; channels 3 or 4 (alpha ignored).
 */
import { throwIfAborted } from './call-gate';
import { publicCall } from './call-site';
import { chooseDevice, withCpuFallback } from './device';
import { FlwnetError, fromNativeError, InvalidInputError } from './errors';
import { decodeStillImage } from './image-io';
import { loadNative, type NativeLossImage, type NativeLossReport } from './native';
import { checkCpuIsa, checkCpuIsaAvailable, checkDevice, checkOptionKeys, checkSignal, MAX_PIXELS_LIMIT, type DeviceOption } from './options';
import { checkRawPixels } from './raw-image';
import { abortReason } from './scheduler';

export interface LossImage {
  data: Uint8Array | Uint8ClampedArray | Float32Array;
  width: number;
  height: number;
  /** 3 or 4; when left out (a canvas ImageData), taken from the data's length. */
  channels?: 3 | 4;
}

/** An encoded image (Buffer / Uint8Array) or raw pixels. */
export type LossInput = Uint8Array | LossImage;

export interface EvaluateOptions {
  /** 'auto' (a GPU when one is usable, else the CPU), 'cpu', 'cuda' or 'cuda:N'. Default 'auto'. */
  device?: DeviceOption;
  /** Aborting rejects the call with AbortError at once (the native pass, if started, runs out unseen). */
  signal?: AbortSignal;
}

/**
 * Every loss and metric: l1, ssimLoss (1 - SSIM), color, brightness, structure, total (the paper's
 * L_ALL), psnr (dB; Infinity for identical images), ssim and ciede2000 (mean, sRGB D65 -> CIELAB).
 */
export type Evaluation = NativeLossReport;

const EVALUATE_KEYS = ['device', 'signal'] as const;

/** Every loss and metric of `enhanced` against `reference`. */
export function evaluate(enhanced: LossInput, reference: LossInput, options?: EvaluateOptions): Promise<Evaluation> {
  return publicCall(() => computeLosses('evaluate', enhanced, reference, options, {}));
}

type Part = { ssim?: boolean; ciede2000?: boolean };
const CHEAP: Part = { ssim: false, ciede2000: false };
const WITH_SSIM: Part = { ssim: true, ciede2000: false };

function single(name: string, pick: (r: Evaluation) => number, parts: Part) {
  return (enhanced: LossInput, reference: LossInput, options?: EvaluateOptions): Promise<number> =>
    publicCall(async () => pick(await computeLosses(`losses.${name}`, enhanced, reference, options, parts)));
}

/** The training losses one at a time; each resolves to a number. */
export const losses = {
  l1: single('l1', (r) => r.l1, CHEAP),
  /** The SSIM loss, 1 - SSIM. */
  ssim: single('ssim', (r) => r.ssimLoss, WITH_SSIM),
  color: single('color', (r) => r.color, CHEAP),
  brightness: single('brightness', (r) => r.brightness, CHEAP),
  structure: single('structure', (r) => r.structure, CHEAP),
  total: single('total', (r) => r.total, WITH_SSIM),
};

export type LabColor = readonly [number, number, number];

export interface LabOptions {
  signal?: AbortSignal;
}

/** CIEDE2000 between two CIELAB colours (the formula the image metric uses). */
export function ciede2000Lab(a: LabColor, b: LabColor, options?: LabOptions): Promise<number> {
  return publicCall(async () => {
    const values = [...checkLab(a, 'first'), ...checkLab(b, 'second')];
    const [difference] = await labPairs('ciede2000Lab', Float64Array.from(values), options);
    return difference;
  });
}

/** CIEDE2000 for each [L1, a1, b1, L2, a2, b2] group of `pairs`. */
export function ciede2000LabPairs(pairs: Float64Array, options?: LabOptions): Promise<Float64Array> {
  return publicCall(() => labPairs('ciede2000LabPairs', pairs, options));
}

async function labPairs(where: string, pairs: Float64Array, options: LabOptions | undefined): Promise<Float64Array> {
  const signal = checkSignal(checkOptionKeys(where, options, ['signal']).signal);
  if (!(pairs instanceof Float64Array) || pairs.length % 6 !== 0) {
    throw new InvalidInputError('ciede2000LabPairs expects a Float64Array of [L1, a1, b1, L2, a2, b2] groups');
  }
  throwIfAborted(signal);
  try {
    return await untilAborted(loadNative().ciede2000Lab(pairs), signal);
  } catch (err) {
    throw fromNativeError(err);
  }
}

function checkLab(value: unknown, which: string): number[] {
  if (!Array.isArray(value) || value.length !== 3 || !value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new InvalidInputError(`the ${which} colour must be [L, a, b] with three finite numbers`);
  }
  return value as number[];
}

async function computeLosses(
  where: string,
  enhanced: LossInput,
  reference: LossInput,
  options: EvaluateOptions | undefined,
  parts: Part,
): Promise<Evaluation> {
  const opts = checkOptionKeys(where, options, EVALUATE_KEYS);
  const device = checkDevice(opts.device);
  const signal = checkSignal(opts.signal);
  throwIfAborted(signal);
  const native = loadNative();
  const choice = chooseDevice(native, device);
  // The CPU kernels follow FLWNET_CPU_ISA as the engine's do (default 'auto').
  const cpuIsa = checkCpuIsaAvailable(checkCpuIsa(undefined), native.cpuIsas);
  const [a, b] = await untilAborted(Promise.all([toLossImage(enhanced, 'enhanced'), toLossImage(reference, 'reference')]), signal);
  if (a.width !== b.width || a.height !== b.height) {
    throw new InvalidInputError(`image sizes differ: enhanced is ${a.width} x ${a.height}, reference is ${b.width} x ${b.height}`);
  }
  return withCpuFallback(device, choice, 'evaluating', (target) => {
    throwIfAborted(signal);
    const settings = { device: target.kind, deviceIndex: target.index, ...parts, cpuIsa };
    return untilAborted(native.evaluateLosses(a, b, settings).then(toEvaluation), signal);
  });
}

/**
 * `work`, or AbortError as soon as `signal` aborts. The losses hold no engine and their native pass
 * has no cancel point, so an aborted call returns at once and leaves that pass to finish unseen.
 */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortReason(signal));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function toEvaluation(r: NativeLossReport): Evaluation {
  return {
    l1: r.l1,
    ssimLoss: r.ssimLoss,
    color: r.color,
    brightness: r.brightness,
    structure: r.structure,
    total: r.total,
    psnr: r.psnr,
    ssim: r.ssim,
    ciede2000: r.ciede2000,
  };
}

async function toLossImage(input: LossInput, which: string): Promise<NativeLossImage> {
  if (input instanceof Uint8Array) {
    try {
      const decoded = await decodeStillImage(input, MAX_PIXELS_LIMIT, 'evaluation');
      return { data: decoded.data, width: decoded.width, height: decoded.height, channels: decoded.channels };
    } catch (err) {
      if (err instanceof FlwnetError) throw new InvalidInputError(`${which} image: ${err.message}`, { cause: err });
      throw err;
    }
  }
  return checkRawLossImage(input, which);
}

function checkRawLossImage(input: unknown, which: string): NativeLossImage {
  if (typeof input !== 'object' || input === null || ArrayBuffer.isView(input)) {
    throw new InvalidInputError(`${which} image must be an encoded image (Buffer) or raw pixels { data, width, height, channels }`);
  }
  return checkRawPixels(input, { label: `${which} image`, maxPixels: MAX_PIXELS_LIMIT, float: true });
}
