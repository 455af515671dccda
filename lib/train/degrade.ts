/**
 * The synthetic low-light model: a well-exposed sRGB photo is turned into the frame a camera would
 * have produced with much less light.
 *
 * It follows the "unprocessing" recipe of Brooks et al., "Unprocessing Images for Learned Raw
 * Denoising" (CVPR 2019): invert the sRGB transfer curve to reach linear light, apply the scene
 * changes there, add heteroscedastic Gaussian sensor noise with variance `shot * x + read` (their
 * Poisson–Gaussian approximation, with their log-uniform shot-noise range and, by default, their
 * log-linear coupling of read noise to shot noise), then process forward again. The darkening is
 * a linear scaling of exposure in linear light, as in the low-light synthesis of Lv et al.
 * (MBLLEN, BMVC 2018) and LOL's synthetic part, drawn log-uniformly so every stop is equally
 * likely. Additions for frames as phones deliver them: a cool/grey white-balance cast and
 * desaturation (low frames lose colour), spatially correlated noise (a small Gaussian blur of the
 * noise field, renormalised so the per-pixel variance stays `shot * x + read`, as demosaicking and
 * denoising correlate it), 8-bit quantisation and an optional JPEG round trip.
 * Brooks et al.'s inverse tone curve and colour matrix are left out: the reference here is the
 * display-referred photo itself, not a raw frame.
 */
import sharp from 'sharp';
import { InvalidOptionError } from '../errors';
import type { Rng } from './rng';

export interface DegradationModel {
  /** Exposure factor range in linear light, drawn log-uniformly. Default [1/100, 1/5]. */
  exposure: [number, number];
  /** Shot-noise gain range (variance per unit linear signal), log-uniform; [0, 0] turns sensor noise off. Default Brooks et al.'s [1e-4, 1.2e-2]. */
  shotNoise: [number, number];
  /** Read-noise variance: 'coupled' (Brooks et al.: ln read = 2.18 ln shot + 1.2 + N(0, 0.26^2)) or a log-uniform range. */
  readNoise: 'coupled' | [number, number];
  /** Noise-field blur sigma range in pixels (uniform); [0, 0] gives white noise. Default [0, 1]. */
  noiseBlur: [number, number];
  /** Largest white-balance cast: red gain down and blue gain up by up to this fraction (a cool cast). Default 0.1. */
  cast: number;
  /** Largest desaturation: mix towards luminance by up to this fraction. Default 0.3. */
  desaturate: number;
  /** Probability of a JPEG round trip. Default 0.5. */
  jpegProbability: number;
  /** JPEG quality range (uniform integers). Default [70, 95]. */
  jpegQuality: [number, number];
}

export const DEFAULT_DEGRADATION: Readonly<DegradationModel> = Object.freeze({
  exposure: [0.01, 0.2],
  shotNoise: [1e-4, 1.2e-2],
  readNoise: 'coupled',
  noiseBlur: [0, 1],
  cast: 0.1,
  desaturate: 0.3,
  jpegProbability: 0.5,
  jpegQuality: [70, 95],
} as DegradationModel);

/** The draws for one frame. */
export interface Degradation {
  exposure: number;
  shot: number;
  read: number;
  blur: number;
  /** Linear-light gains for R, G, B. */
  gains: [number, number, number];
  desaturate: number;
  /** JPEG quality, or 0 for none. */
  jpegQuality: number;
}

const MODEL_KEYS = Object.keys(DEFAULT_DEGRADATION);

function checkRange(name: string, value: unknown, min: number, max: number, positive = false): [number, number] {
  const ok =
    Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
    value[0] <= value[1] && value[0] >= min && value[1] <= max && (!positive || value[0] > 0);
  if (!ok) throw new InvalidOptionError(`degradation.${name} must be [low, high] with ${positive ? '0 < ' : `${min} <= `}low <= high <= ${max}, got ${JSON.stringify(value)}`);
  return [value[0], value[1]] as [number, number];
}

function checkFraction(name: string, value: unknown, max = 1): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > max) {
    throw new InvalidOptionError(`degradation.${name} must be a number in [0, ${max}], got ${String(value)}`);
  }
  return value;
}

/** The defaults overridden by `options`; every value checked. */
export function checkDegradationModel(options: unknown = {}): DegradationModel {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new InvalidOptionError('degradation must be an object');
  for (const key of Object.keys(options)) {
    if (!MODEL_KEYS.includes(key)) throw new InvalidOptionError(`degradation: unknown option "${key}" (accepted: ${MODEL_KEYS.join(', ')})`);
  }
  const m = { ...DEFAULT_DEGRADATION, ...(options as Partial<DegradationModel>) };
  const readNoise = m.readNoise === 'coupled' ? 'coupled' : checkRange('readNoise', m.readNoise, 0, 1, true);
  const jpegQuality = checkRange('jpegQuality', m.jpegQuality, 1, 100);
  if (!jpegQuality.every(Number.isInteger)) throw new InvalidOptionError('degradation.jpegQuality must hold integers');
  return {
    exposure: checkRange('exposure', m.exposure, 0, 1, true),
    shotNoise: m.shotNoise[1] === 0 && m.shotNoise[0] === 0 ? [0, 0] : checkRange('shotNoise', m.shotNoise, 0, 1, true),
    readNoise,
    noiseBlur: checkRange('noiseBlur', m.noiseBlur, 0, 4),
    cast: checkFraction('cast', m.cast, 0.5),
    desaturate: checkFraction('desaturate', m.desaturate),
    jpegProbability: checkFraction('jpegProbability', m.jpegProbability),
    jpegQuality,
  };
}

/** Draws one frame's degradation. */
export function sampleDegradation(model: DegradationModel, rng: Rng): Degradation {
  const exposure = rng.logUniform(model.exposure[0], model.exposure[1]);
  const noiseless = model.shotNoise[1] === 0;
  const shot = noiseless ? 0 : rng.logUniform(model.shotNoise[0], model.shotNoise[1]);
  const readDraw = rng.normal();
  const readUniform = rng.next();
  let read = 0;
  if (!noiseless && model.readNoise === 'coupled') read = Math.exp(2.18 * Math.log(shot) + 1.2 + 0.26 * readDraw);
  else if (model.readNoise !== 'coupled') read = Math.exp(Math.log(model.readNoise[0]) + readUniform * Math.log(model.readNoise[1] / model.readNoise[0]));
  const blur = rng.uniform(model.noiseBlur[0], model.noiseBlur[1]);
  // Mostly cool, sometimes slightly warm: low-light auto white balance tends to leave a blue cast.
  const cast = model.cast * rng.uniform(-0.3, 1);
  const desaturate = model.desaturate * rng.next();
  const jpeg = rng.next() < model.jpegProbability;
  const quality = model.jpegQuality[0] + rng.int(model.jpegQuality[1] - model.jpegQuality[0] + 1);
  return { exposure, shot, read, blur, gains: [1 - cast, 1, 1 + cast], desaturate, jpegQuality: jpeg ? quality : 0 };
}

/** sRGB code value (0..255) to linear light, exact IEC 61966-2-1 curve. */
const SRGB_TO_LINEAR = Float64Array.from({ length: 256 }, (_, i) => {
  const c = i / 255;
  return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
});

export function srgbToLinear(code: number): number {
  return SRGB_TO_LINEAR[code];
}

/** Linear light in [0, 1] to an sRGB value in [0, 1]. */
export function linearToSrgb(x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  return x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055;
}

/** A 1-D Gaussian whose 2-D outer product has unit sum of squares, so blurred white noise keeps unit variance. */
export function noiseKernel(sigma: number): Float64Array {
  if (sigma < 0.05) return Float64Array.of(1);
  const radius = Math.ceil(3 * sigma);
  const k = Float64Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const norm = Math.sqrt(k.reduce((s, v) => s + v * v, 0));
  return k.map((v) => v / norm);
}

/** Mirror indices for a blur of radius `r` along `n` samples: entry (i + r) is the source of position i. */
function reflectTable(n: number, r: number): Int32Array {
  return Int32Array.from({ length: n + 2 * r }, (_, k) => {
    const i = k - r;
    return i < 0 ? Math.min(-i, n - 1) : i >= n ? Math.max(2 * n - 2 - i, 0) : i;
  });
}

/** One separable pass over interleaved RGB; `step` is 3 (along rows) or 3 * width (along columns). */
function blurPass(src: Float32Array, width: number, height: number, kernel: Float64Array, horizontal: boolean): Float32Array {
  const dst = new Float32Array(src.length);
  const r = (kernel.length - 1) / 2;
  const along = horizontal ? width : height;
  const table = reflectTable(along, r);
  const stride = horizontal ? 3 : 3 * width;
  const lines = horizontal ? height : width;
  const lineStride = horizontal ? 3 * width : 3;
  for (let line = 0; line < lines; line++) {
    const base = line * lineStride;
    for (let i = 0; i < along; i++) {
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      for (let t = 0; t < kernel.length; t++) {
        const o = base + table[i + t] * stride;
        const k = kernel[t];
        s0 += k * src[o];
        s1 += k * src[o + 1];
        s2 += k * src[o + 2];
      }
      const d = base + i * stride;
      dst[d] = s0;
      dst[d + 1] = s1;
      dst[d + 2] = s2;
    }
  }
  return dst;
}

/** Unit-variance, spatially correlated noise, one independent field per channel (interleaved). */
function noiseField(width: number, height: number, sigma: number, rng: Rng): Float32Array {
  const white = new Float32Array(width * height * 3);
  rng.fillNormal(white);
  const kernel = noiseKernel(sigma);
  if (kernel.length === 1) return white;
  return blurPass(blurPass(white, width, height, kernel, true), width, height, kernel, false);
}

/**
 * The degraded frame in linear light, before the transfer curve and quantisation (values may leave
 * [0, 1]: noise is not clipped here). Exposed for the model's statistical tests.
 */
export function degradeLinear(high: Uint8Array, width: number, height: number, d: Degradation, rng: Rng): Float32Array {
  const n = width * height;
  const out = new Float32Array(n * 3);
  const noise = d.shot > 0 || d.read > 0 ? noiseField(width, height, d.blur, rng) : undefined;
  for (let p = 0; p < n; p++) {
    const i = p * 3;
    let r = SRGB_TO_LINEAR[high[i]] * d.gains[0];
    let g = SRGB_TO_LINEAR[high[i + 1]] * d.gains[1];
    let b = SRGB_TO_LINEAR[high[i + 2]] * d.gains[2];
    const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    r += (luma - r) * d.desaturate;
    g += (luma - g) * d.desaturate;
    b += (luma - b) * d.desaturate;
    out[i] = r * d.exposure;
    out[i + 1] = g * d.exposure;
    out[i + 2] = b * d.exposure;
    if (noise) {
      for (let c = i; c < i + 3; c++) out[c] += noise[c] * Math.sqrt(Math.max(0, d.shot * out[c] + d.read));
    }
  }
  return out;
}

/** The linear value at which the rounded sRGB code steps from c - 1 to c, for c = 1..255. */
const CODE_THRESHOLDS = Float64Array.from({ length: 256 }, (_, c) => {
  if (c === 0) return -Infinity;
  const v = (c - 0.5) / 255;
  return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
});

/** Linear light to 8-bit sRGB, rounded and clipped: round(255 * linearToSrgb(x)) by binary search over the code thresholds. */
export function quantise(linear: Float32Array): Uint8Array {
  const out = new Uint8Array(linear.length);
  for (let i = 0; i < linear.length; i++) {
    const x = linear[i];
    let code = 0;
    for (let bit = 128; bit >= 1; bit >>= 1) if (CODE_THRESHOLDS[code + bit] <= x) code += bit;
    out[i] = code;
  }
  return out;
}

/** The low-light frame for a well-exposed RGB crop: 8-bit sRGB, JPEG round trip when drawn. */
export async function degrade(high: Uint8Array, width: number, height: number, d: Degradation, rng: Rng): Promise<Uint8Array> {
  const low = quantise(degradeLinear(high, width, height, d, rng));
  if (d.jpegQuality === 0) return low;
  const raw = { width, height, channels: 3 as const };
  const jpeg = await sharp(low, { raw }).jpeg({ quality: d.jpegQuality, mozjpeg: false, chromaSubsampling: '4:2:0' }).toBuffer();
  const { data, info } = await sharp(jpeg).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3) throw new Error('JPEG round trip changed the frame size');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
