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
import { DeviceError, FlwnetError, fromNativeError, InvalidInputError } from './errors';
import { decodeImage } from './image-io';
import { loadNative, type NativeLossImage, type NativeLossOptions, type NativeLossReport, type NativeModule } from './native';
import { checkCpuIsa, checkCpuIsaAvailable, checkDevice, checkOptionKeys, isPlainObject, MAX_PIXELS_LIMIT, type DeviceOption } from './options';

export interface LossImage {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** An encoded image (Buffer / Uint8Array) or raw pixels. */
export type LossInput = Uint8Array | LossImage;

export interface EvaluateOptions {
  /** 'auto' (a GPU when one is usable, else the CPU), 'cpu', 'cuda' or 'cuda:N'. Default 'auto'. */
  device?: DeviceOption;
}

/**
 * Every loss and metric: l1, ssimLoss (1 - SSIM), color, brightness, structure, total (the paper's
 * L_ALL), psnr (dB; Infinity for identical images), ssim and ciede2000 (mean, sRGB D65 -> CIELAB).
 */
export type Evaluation = NativeLossReport;

const EVALUATE_KEYS = ['device'] as const;

/** Every loss and metric of `enhanced` against `reference`. */
export async function evaluate(enhanced: LossInput, reference: LossInput, options?: EvaluateOptions): Promise<Evaluation> {
  return computeLosses('evaluate', enhanced, reference, options, {});
}

type Part = { ssim?: boolean; ciede2000?: boolean };
const CHEAP: Part = { ssim: false, ciede2000: false };
const WITH_SSIM: Part = { ssim: true, ciede2000: false };

function single(name: string, pick: (r: Evaluation) => number, parts: Part) {
  return async (enhanced: LossInput, reference: LossInput, options?: EvaluateOptions): Promise<number> =>
    pick(await computeLosses(`losses.${name}`, enhanced, reference, options, parts));
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

/** CIEDE2000 between two CIELAB colours (the formula the image metric uses). */
export async function ciede2000Lab(a: LabColor, b: LabColor): Promise<number> {
  const values = [...checkLab(a, 'first'), ...checkLab(b, 'second')];
  const [difference] = await ciede2000LabPairs(Float64Array.from(values));
  return difference;
}

/** CIEDE2000 for each [L1, a1, b1, L2, a2, b2] group of `pairs`. */
export async function ciede2000LabPairs(pairs: Float64Array): Promise<Float64Array> {
  if (!(pairs instanceof Float64Array) || pairs.length % 6 !== 0) {
    throw new InvalidInputError('ciede2000LabPairs expects a Float64Array of [L1, a1, b1, L2, a2, b2] groups');
  }
  try {
    return await loadNative().ciede2000Lab(pairs);
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
  const native = loadNative();
  const target = chooseDevice(native, device);
  // The CPU kernels follow FLWNET_CPU_ISA as the engine's do (default 'auto').
  const cpuIsa = checkCpuIsaAvailable(checkCpuIsa(undefined), native.cpuIsas);
  const [a, b] = await Promise.all([toLossImage(enhanced, 'enhanced'), toLossImage(reference, 'reference')]);
  if (a.width !== b.width || a.height !== b.height) {
    throw new InvalidInputError(`image sizes differ: enhanced is ${a.width} x ${a.height}, reference is ${b.width} x ${b.height}`);
  }
  const run = (settings: NativeLossOptions) => native.evaluateLosses(a, b, { ...settings, ...parts, cpuIsa });
  try {
    return toEvaluation(await run(target));
  } catch (err) {
    const error = fromNativeError(err);
    // 'auto' picked a GPU that then failed: the CPU gives the same numbers.
    if (device === 'auto' && target.device === 'cuda' && error instanceof DeviceError) {
      process.emitWarning(`flwnet: the GPU is not usable (${error.message}); evaluating on the CPU`, 'FlwnetWarning');
      try {
        return toEvaluation(await run({ device: 'cpu' }));
      } catch (cpuErr) {
        throw fromNativeError(cpuErr);
      }
    }
    throw error;
  }
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

function chooseDevice(native: NativeModule, device: DeviceOption): NativeLossOptions {
  if (device === 'cpu') return { device: 'cpu' };
  const devices = native.cudaCompiled ? native.cudaInfo().devices : [];
  if (device === 'auto') return devices.length > 0 ? { device: 'cuda', deviceIndex: devices[0].index } : { device: 'cpu' };
  if (!native.cudaCompiled) {
    throw new DeviceError('this flwnet build has no CUDA support; rebuild with a CUDA toolkit (FLWNET_CUDA=ON npm rebuild)');
  }
  const index = device === 'cuda' ? 0 : Number(device.slice(5));
  if (index >= devices.length) throw new DeviceError(`${device} does not exist: ${devices.length} CUDA device(s) found`);
  return { device: 'cuda', deviceIndex: index };
}

async function toLossImage(input: LossInput, which: string): Promise<NativeLossImage> {
  if (input instanceof Uint8Array) {
    try {
      const decoded = await decodeImage(input, MAX_PIXELS_LIMIT);
      return { data: decoded.data, width: decoded.width, height: decoded.height, channels: decoded.channels };
    } catch (err) {
      if (err instanceof FlwnetError) throw new InvalidInputError(`${which} image: ${err.message}`, { cause: err });
      throw err;
    }
  }
  return checkRawLossImage(input, which);
}

function checkRawLossImage(input: unknown, which: string): NativeLossImage {
  if (!isPlainObject(input)) {
    throw new InvalidInputError(`${which} image must be an encoded image (Buffer) or raw pixels { data, width, height, channels }`);
  }
  const { data, width, height, channels } = input as Record<string, unknown>;
  if (!(data instanceof Uint8Array) && !(data instanceof Float32Array)) {
    throw new InvalidInputError(`${which} image data must be a Uint8Array or Float32Array`);
  }
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1 << 20) {
      throw new InvalidInputError(`${which} image ${name} must be an integer in [1, 1048576], got ${String(value)}`);
    }
  }
  if (channels !== 3 && channels !== 4) throw new InvalidInputError(`${which} image channels must be 3 or 4, got ${String(channels)}`);
  const w = width as number;
  const h = height as number;
  if (w * h > MAX_PIXELS_LIMIT) throw new InvalidInputError(`${which} image is ${w} x ${h} pixels, over the limit of ${MAX_PIXELS_LIMIT}`);
  if (data.length !== w * h * channels) {
    throw new InvalidInputError(`${which} image data holds ${data.length} samples but ${w} x ${h} x ${channels} = ${w * h * channels} are needed`);
  }
  return { data, width: w, height: h, channels };
}
