/**
 * Automatic exposure: a ridge regression that predicts, from a low-light image alone, the mean
 * brightness (mean of max(R, G, B) / 255, the paper's exposure) of its well-exposed reference.
 *
 * Inputs are the global branch's image features (docs/numerics.md §2: 12 histogram fractions of V over
 * [vmin, vmax], vmin, vmax) and two statistics derived from them: the image's mean V (from the bin
 * centres) and its logarithm. They are standardised, combined linearly and mapped through a
 * logistic, so the prediction always lies in (0, 1); it is then clamped to [MIN_EXPOSURE,
 * MAX_EXPOSURE]. The predictor is stored in a weights file as four small F32 tensors
 * (`exposure.mean`, `exposure.scale`, `exposure.weight`, `exposure.bias`), so weights a user trains
 * carry their own.
 */
import { WeightsError } from '../errors';

export const EXPOSURE_FEATURE_NAMES: readonly string[] = Object.freeze([
  ...Array.from({ length: 12 }, (_, i) => `hist${i}`),
  'vmin',
  'vmax',
  'meanV',
  'logMeanV',
]);
export const EXPOSURE_FEATURE_COUNT = EXPOSURE_FEATURE_NAMES.length;
/** Tensor names of a stored predictor, and the prefix that marks them in a weights file. */
export const EXPOSURE_TENSOR_PREFIX = 'exposure.';
export const EXPOSURE_TENSOR_NAMES: readonly string[] = ['exposure.mean', 'exposure.scale', 'exposure.weight', 'exposure.bias'];
/** Predictions are kept in this range: outside it the curve either barely acts or blows highlights out. */
export const MIN_EXPOSURE = 0.05;
export const MAX_EXPOSURE = 0.9;

/**
 * The predictor's inputs from the 15 global features (or the first 14: the 15th, the target
 * exposure, is not used).
 */
export function exposureInputs(globalFeatures: ArrayLike<number>): Float64Array {
  if (globalFeatures.length < 14) throw new WeightsError(`exposure inputs need the 14 image features, got ${globalFeatures.length}`);
  const x = new Float64Array(EXPOSURE_FEATURE_COUNT);
  const vmin = globalFeatures[12]!;
  const vmax = globalFeatures[13]!;
  const step = (vmax - vmin) / 12;
  let mean = 0;
  for (let i = 0; i < 12; i++) {
    x[i] = globalFeatures[i]!;
    mean += globalFeatures[i]! * (vmin + (i + 0.5) * step);
  }
  x[12] = vmin;
  x[13] = vmax;
  x[14] = mean;
  x[15] = Math.log(Math.max(mean, 0) + 1 / 255);
  return x;
}

function logistic(z: number): number {
  return 1 / (1 + Math.exp(-z));
}

export function logit(p: number): number {
  const q = Math.min(Math.max(p, 1e-4), 1 - 1e-4);
  return Math.log(q / (1 - q));
}

export class ExposurePredictor {
  private constructor(
    readonly mean: Float32Array,
    readonly scale: Float32Array,
    readonly weight: Float32Array,
    readonly bias: number,
  ) {}

  /** Checks counts, finiteness and positive scales. */
  static create(mean: ArrayLike<number>, scale: ArrayLike<number>, weight: ArrayLike<number>, bias: number): ExposurePredictor {
    const vectors = { mean, scale, weight } as const;
    for (const [name, v] of Object.entries(vectors)) {
      if (v.length !== EXPOSURE_FEATURE_COUNT) throw new WeightsError(`exposure.${name} holds ${v.length} values, expected ${EXPOSURE_FEATURE_COUNT}`);
      for (let i = 0; i < v.length; i++) {
        if (!Number.isFinite(v[i])) throw new WeightsError(`exposure.${name} has a non-finite value at index ${i}`);
      }
    }
    for (let i = 0; i < scale.length; i++) if (!(scale[i]! > 0)) throw new WeightsError(`exposure.scale must be positive, index ${i} is ${scale[i]}`);
    if (!Number.isFinite(bias)) throw new WeightsError('exposure.bias is not finite');
    return new ExposurePredictor(Float32Array.from(mean), Float32Array.from(scale), Float32Array.from(weight), Math.fround(bias));
  }

  /**
   * The predictor stored in a weights file's `exposure.*` tensors, or undefined when it has none.
   * All four tensors must be there with shape [16] ([1] for the bias); any other `exposure.*` name
   * is refused.
   */
  static fromTensors(tensors: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>): ExposurePredictor | undefined {
    const names = [...tensors.keys()].filter((n) => n.startsWith(EXPOSURE_TENSOR_PREFIX));
    if (names.length === 0) return undefined;
    for (const name of names) {
      if (!EXPOSURE_TENSOR_NAMES.includes(name)) throw new WeightsError(`unknown key ${name} (not an FLW-Net parameter or exposure predictor tensor)`);
    }
    const get = (name: string, count: number) => {
      const t = tensors.get(name);
      if (t === undefined) throw new WeightsError(`the exposure predictor lacks ${name} (it needs ${EXPOSURE_TENSOR_NAMES.join(', ')})`);
      if (t.shape.length !== 1 || t.shape[0] !== count) throw new WeightsError(`key ${name} has shape [${t.shape.join(', ')}], expected [${count}]`);
      return t.data;
    };
    const n = EXPOSURE_FEATURE_COUNT;
    return ExposurePredictor.create(get('exposure.mean', n), get('exposure.scale', n), get('exposure.weight', n), get('exposure.bias', 1)[0]!);
  }

  /** The four tensors, for a safetensors file. */
  tensors(): Map<string, { shape: number[]; data: Float32Array }> {
    return new Map([
      ['exposure.mean', { shape: [EXPOSURE_FEATURE_COUNT], data: this.mean.slice() }],
      ['exposure.scale', { shape: [EXPOSURE_FEATURE_COUNT], data: this.scale.slice() }],
      ['exposure.weight', { shape: [EXPOSURE_FEATURE_COUNT], data: this.weight.slice() }],
      ['exposure.bias', { shape: [1], data: Float32Array.of(this.bias) }],
    ]);
  }

  /** The predicted reference brightness for an image with these global features, in [MIN_EXPOSURE, MAX_EXPOSURE]. */
  predict(globalFeatures: ArrayLike<number>): number {
    const x = exposureInputs(globalFeatures);
    let z = this.bias;
    for (let i = 0; i < x.length; i++) z += this.weight[i]! * ((x[i]! - this.mean[i]!) / this.scale[i]!);
    return Math.min(MAX_EXPOSURE, Math.max(MIN_EXPOSURE, logistic(z)));
  }
}

/** A sample for fitting: an image's global features and its reference's mean brightness. */
export interface ExposureSample {
  features: ArrayLike<number>;
  target: number;
}

/**
 * Ridge regression of logit(target) on the standardised inputs, solved in closed form
 * ((X'X + lambda n I) w = X'y by Cholesky). `lambda` is per sample, so it does not need retuning
 * with the sample count.
 */
export function fitExposurePredictor(samples: readonly ExposureSample[], lambda = 1e-3): ExposurePredictor {
  const n = samples.length;
  const d = EXPOSURE_FEATURE_COUNT;
  if (n < 2) throw new WeightsError(`fitting the exposure predictor needs at least 2 samples, got ${n}`);
  const rows = samples.map((s) => exposureInputs(s.features));
  const y = samples.map((s) => logit(s.target));
  const mean = new Float64Array(d);
  const scale = new Float64Array(d);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j]! / n;
  for (const r of rows) for (let j = 0; j < d; j++) scale[j] += (r[j]! - mean[j]!) ** 2 / n;
  for (let j = 0; j < d; j++) scale[j] = Math.sqrt(scale[j]!) || 1;
  const yMean = y.reduce((a, b) => a + b, 0) / n;
  const a = Array.from({ length: d }, () => new Float64Array(d));
  const b = new Float64Array(d);
  for (let k = 0; k < n; k++) {
    const z = rows[k]!.map((v, j) => (v - mean[j]!) / scale[j]!);
    for (let i = 0; i < d; i++) {
      b[i] += z[i]! * (y[k]! - yMean);
      for (let j = 0; j <= i; j++) a[i]![j] += z[i]! * z[j]!;
    }
  }
  for (let i = 0; i < d; i++) {
    a[i]![i] += lambda * n;
    for (let j = 0; j < i; j++) a[j]![i] = a[i]![j]!;
  }
  return ExposurePredictor.create(mean, scale, solveSymmetric(a, b), yMean);
}

/** Solves A x = b for symmetric positive definite A (Cholesky). */
function solveSymmetric(a: Float64Array[], b: Float64Array): Float64Array {
  const d = b.length;
  const l = Array.from({ length: d }, () => new Float64Array(d));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i]![j]!;
      for (let k = 0; k < j; k++) s -= l[i]![k]! * l[j]![k]!;
      if (i === j) {
        if (!(s > 0)) throw new WeightsError('the exposure fit is singular');
        l[i]![i] = Math.sqrt(s);
      } else l[i]![j] = s / l[j]![j]!;
    }
  }
  const z = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = b[i]!;
    for (let k = 0; k < i; k++) s -= l[i]![k]! * z[k]!;
    z[i] = s / l[i]![i]!;
  }
  const x = new Float64Array(d);
  for (let i = d - 1; i >= 0; i--) {
    let s = z[i]!;
    for (let k = i + 1; k < d; k++) s -= l[k]![i]! * x[k]!;
    x[i] = s / l[i]![i]!;
  }
  return x;
}
