/**
 * The native training core (docs/numerics.md §9): forward through FLW-Net for a batch of equal-size
 * crops, the paper's five losses, backpropagation to all 17,373 parameters, optional gradient-norm
 * clipping and an Adam update, all in C++ on the CPU and off the event loop.
 *
 *   const core = TrainerCore.create({ params: weights.packed(), adam: DEFAULT_ADAM });
 *   const { losses, gradNorm, applied } = await core.step(batch, 1e-4, signal);
 *   const trained = FlwnetWeights.fromPacked(core.params());
 *   core.close();
 *
 * Results are deterministic: the same parameters, batch and optimiser state give bit-identical
 * weights whatever the thread count (gradients are summed over fixed work units in a fixed order).
 */
import { ClosedError, fromNativeError, InvalidInputError, InvalidOptionError } from '../errors';
import { loadNative, type AdamConfig, type LossTerms, type NativeTrainer, type NativeTrainExample } from '../native';
import { checkCpuIsa, checkCpuIsaAvailable, checkSignal, type CpuIsaOption } from '../options';
import { abortReason } from '../scheduler';
import { FLWNET_PARAM_COUNT, FLWNET_WEIGHT_SCHEMA, FlwnetWeights } from '../weights';

export interface TrainImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
}

/** One training pair. `exposure` defaults to the mean over pixels of max(R, G, B) / 255 of `high` (float64). */
export interface TrainExample {
  low: TrainImage;
  high: TrainImage;
  exposure?: number;
}

export type TrainLosses = LossTerms;
export type { AdamConfig };

/** The authors' optimiser settings (lr 1e-4 is passed to step()). */
export const AUTHORS_ADAM: Readonly<AdamConfig> = Object.freeze({
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 1e-4,
  decoupledWeightDecay: false,
  clipGradNorm: 0,
});

export interface StepResult {
  losses: TrainLosses;
  /** Global L2 norm of the total loss's gradient (before clipping, weight decay not included). */
  gradNorm: number;
  /** false when a loss or the gradient was non-finite: the weights and optimiser state are untouched. */
  applied: boolean;
}

export interface OptimizerState {
  /** Number of updates applied so far (Adam's bias correction uses it). */
  step: number;
  /** First and second moments, FLWNET_PARAM_COUNT values each, in packed order. */
  m: Float32Array;
  v: Float32Array;
}

export interface TrainerCoreOptions {
  /** FLWNET_PARAM_COUNT floats in the packed order of FLWNET_WEIGHT_SCHEMA; copied. */
  params: Float32Array;
  /** Worker threads (default: the number of CPU cores). */
  threads?: number;
  /** CPU instruction set, as for Enhancer.create (default: $FLWNET_CPU_ISA, else 'auto'). */
  cpuIsa?: CpuIsaOption;
  adam: AdamConfig;
}

const LOSS_NAMES = ['l1', 'ssimLoss', 'color', 'brightness', 'structure', 'total'] as const;

function lossesFromNative(values: Float64Array): TrainLosses {
  const out = {} as Record<(typeof LOSS_NAMES)[number], number>;
  LOSS_NAMES.forEach((name, i) => {
    out[name] = values[i];
  });
  return out;
}

function checkImage(image: unknown, where: string): TrainImage {
  if (typeof image !== 'object' || image === null) throw new InvalidInputError(`${where} must be an image object`);
  const { data, width, height, channels } = image as Partial<TrainImage>;
  if (!(data instanceof Uint8Array)) throw new InvalidInputError(`${where}.data must be a Uint8Array`);
  if (!Number.isInteger(width) || !Number.isInteger(height) || (width as number) < 1 || (height as number) < 1) {
    throw new InvalidInputError(`${where} must have positive integer width and height`);
  }
  if (channels !== 3) throw new InvalidInputError(`${where} must have 3 channels (RGB), got ${String(channels)}`);
  if (data.length !== (width as number) * (height as number) * 3) {
    throw new InvalidInputError(`${where}.data holds ${data.length} bytes, expected ${width} x ${height} x 3`);
  }
  return image as TrainImage;
}

/** Checks a batch and converts it to the addon's form. Throws InvalidInputError. */
export function checkBatch(batch: unknown): NativeTrainExample[] {
  if (!Array.isArray(batch) || batch.length === 0) throw new InvalidInputError('a training batch needs at least one example');
  let size: [number, number] | undefined;
  return batch.map((example: unknown, i) => {
    if (typeof example !== 'object' || example === null) throw new InvalidInputError(`batch[${i}] must be an object`);
    const { low, high, exposure } = example as Partial<TrainExample>;
    const l = checkImage(low, `batch[${i}].low`);
    const h = checkImage(high, `batch[${i}].high`);
    if (l.width !== h.width || l.height !== h.height) {
      throw new InvalidInputError(`batch[${i}]: low is ${l.width}x${l.height} but high is ${h.width}x${h.height}`);
    }
    size ??= [l.width, l.height];
    if (l.width !== size[0] || l.height !== size[1]) {
      throw new InvalidInputError(`batch[${i}] is ${l.width}x${l.height}, but batch[0] is ${size[0]}x${size[1]}: crops must have equal sizes`);
    }
    if (exposure !== undefined && (typeof exposure !== 'number' || !Number.isFinite(exposure) || exposure < 0 || exposure > 1)) {
      throw new InvalidInputError(`batch[${i}].exposure must be a finite number in [0, 1], got ${String(exposure)}`);
    }
    return { low: l.data, high: h.data, width: l.width, height: l.height, exposure: exposure ?? Number.NaN };
  });
}

function checkFiniteNumber(value: unknown, name: string, min: number, max: number, maxOpen = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= min && (maxOpen ? value < max : value <= max);
  if (!ok) throw new InvalidOptionError(`${name} must be a finite number in [${min}, ${max}${maxOpen ? ')' : ']'}, got ${String(value)}`);
  return value as number;
}

function checkAdam(adam: unknown): AdamConfig {
  if (typeof adam !== 'object' || adam === null) throw new InvalidOptionError('adam must be an object');
  const a = adam as Partial<AdamConfig>;
  if (typeof a.decoupledWeightDecay !== 'boolean') throw new InvalidOptionError('adam.decoupledWeightDecay must be a boolean');
  const eps = checkFiniteNumber(a.eps, 'adam.eps', 0, Number.MAX_VALUE);
  if (eps === 0) throw new InvalidOptionError('adam.eps must be positive');
  return {
    beta1: checkFiniteNumber(a.beta1, 'adam.beta1', 0, 1, true),
    beta2: checkFiniteNumber(a.beta2, 'adam.beta2', 0, 1, true),
    eps,
    weightDecay: checkFiniteNumber(a.weightDecay, 'adam.weightDecay', 0, Number.MAX_VALUE),
    decoupledWeightDecay: a.decoupledWeightDecay,
    clipGradNorm: checkFiniteNumber(a.clipGradNorm, 'adam.clipGradNorm', 0, Number.MAX_VALUE),
  };
}

function checkThreads(threads: unknown): number {
  if (threads === undefined) return 0;
  if (!Number.isInteger(threads) || (threads as number) < 1 || (threads as number) > 1024) {
    throw new InvalidOptionError(`threads must be an integer in [1, 1024], got ${String(threads)}`);
  }
  return threads as number;
}

function checkParams(params: unknown, name: string): Float32Array {
  if (!(params instanceof Float32Array) || params.length !== FLWNET_PARAM_COUNT) {
    throw new InvalidOptionError(`${name} must be a Float32Array of ${FLWNET_PARAM_COUNT} values`);
  }
  const bad = params.findIndex((v) => !Number.isFinite(v));
  if (bad >= 0) throw new InvalidOptionError(`${name}[${bad}] is not finite (${params[bad]})`);
  return params;
}

/**
 * Runs `call` with a shared cancel flag raised when `signal` aborts; rejects with AbortError when
 * it was aborted, and with the typed error of any native failure.
 */
export async function withCancel<T>(signal: AbortSignal | undefined, call: (cancel: Int32Array) => Promise<T>): Promise<T> {
  if (signal?.aborted) throw abortReason(signal);
  const cancel = new Int32Array(new SharedArrayBuffer(4));
  const onAbort = () => Atomics.store(cancel, 0, 1);
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    return await call(cancel);
  } catch (err) {
    if (signal?.aborted) throw abortReason(signal);
    throw fromNativeError(err);
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

/** Master weights, Adam state and the worker threads of one training run. */
export class TrainerCore {
  private native: NativeTrainer | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(native: NativeTrainer) {
    this.native = native;
  }

  static create(options: TrainerCoreOptions): TrainerCore {
    if (typeof options !== 'object' || options === null) throw new InvalidOptionError('TrainerCore.create needs an options object');
    const params = checkParams(options.params, 'params');
    const threads = checkThreads(options.threads);
    const adam = checkAdam(options.adam);
    try {
      const cpuIsa = checkCpuIsaAvailable(checkCpuIsa(options.cpuIsa), loadNative().cpuIsas);
      return new TrainerCore(new (loadNative().Trainer)(params, { threads, cpuIsa, ...adam }));
    } catch (err) {
      throw fromNativeError(err);
    }
  }

  private handle(): NativeTrainer {
    if (!this.native) throw new ClosedError('the trainer is closed');
    return this.native;
  }

  /**
   * forward + losses + backward + clipping + Adam at learning rate `lr`, off the event loop.
   * Steps run one after another in call order. Aborting leaves the weights untouched.
   */
  async step(batch: TrainExample[], lr: number, signal?: AbortSignal): Promise<StepResult> {
    const native = this.handle();
    const examples = checkBatch(batch);
    checkFiniteNumber(lr, 'lr', 0, Number.MAX_VALUE);
    const sig = checkSignal(signal);
    const run = this.queue.then(async () => {
      if (!this.native) throw new ClosedError('the trainer is closed');
      const result = await withCancel(sig, (cancel) => native.step(examples, lr, cancel));
      return { losses: lossesFromNative(result.losses), gradNorm: result.gradNorm, applied: result.applied };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A copy of the master weights, in packed order. */
  params(): Float32Array {
    return this.handle().params();
  }

  /** A copy of Adam's state. */
  optimizerState(): OptimizerState {
    const s = this.handle().optimizerState();
    return { step: s.step, m: s.m, v: s.v };
  }

  /** Replaces Adam's state (e.g. when resuming from a checkpoint); copied. */
  setOptimizerState(state: OptimizerState): void {
    const native = this.handle();
    if (typeof state !== 'object' || state === null) throw new InvalidOptionError('optimizer state must be an object');
    if (!Number.isInteger(state.step) || state.step < 0) throw new InvalidOptionError('optimizer state step must be a non-negative integer');
    checkParams(state.m, 'optimizer state m');
    checkParams(state.v, 'optimizer state v');
    if (state.v.some((x) => x < 0)) throw new InvalidOptionError('optimizer state v must be non-negative');
    native.setOptimizerState(state.step, state.m, state.v);
  }

  /** Releases the native state; a step in flight still settles. Later calls throw ClosedError. */
  close(): void {
    this.native?.close();
    this.native = undefined;
  }
}

/** Gradient of a weighted sum of the five losses; per-loss weights in the order l1, ssimLoss, color, brightness, structure. */
export type LossWeights = readonly [number, number, number, number, number];

function paramsOf(weights: FlwnetWeights | Float32Array): Float32Array {
  if (weights instanceof FlwnetWeights) return weights.packed();
  return checkParams(weights, 'weights');
}

/** Splits a packed gradient into one array per state-dict name, shaped as the weight. */
export function unpackGradients(packed: Float64Array): Record<string, Float64Array> {
  const out: Record<string, Float64Array> = {};
  let offset = 0;
  for (const [name, shape] of FLWNET_WEIGHT_SCHEMA) {
    const count = shape.reduce((a, b) => a * b, 1);
    out[name] = packed.slice(offset, offset + count);
    offset += count;
  }
  return out;
}

/** Loss values and the gradient of `lossWeights . losses` (default: the total) for every state-dict name. */
export async function weightedLossAndGradients(
  weights: FlwnetWeights | Float32Array,
  batch: TrainExample[],
  lossWeights: LossWeights,
  options?: { threads?: number; cpuIsa?: CpuIsaOption; signal?: AbortSignal },
): Promise<{ losses: TrainLosses; gradients: Record<string, Float64Array> }> {
  const params = paramsOf(weights);
  const examples = checkBatch(batch);
  const threads = checkThreads(options?.threads);
  const cpuIsa = checkCpuIsaAvailable(checkCpuIsa(options?.cpuIsa), loadNative().cpuIsas);
  const signal = checkSignal(options?.signal);
  if (!Array.isArray(lossWeights) || lossWeights.length !== 5 || lossWeights.some((w) => typeof w !== 'number' || !Number.isFinite(w))) {
    throw new InvalidOptionError('lossWeights must be 5 finite numbers');
  }
  const result = await withCancel(signal, (cancel) =>
    loadNative().trainLossAndGradients(params, examples, Float64Array.from(lossWeights), threads, cancel, cpuIsa),
  );
  return { losses: lossesFromNative(result.losses), gradients: unpackGradients(result.gradients) };
}

/** Loss values and the total loss's gradient for every state-dict name (Float64Array, shape as the weight). */
export async function lossAndGradients(
  weights: FlwnetWeights | Float32Array,
  batch: TrainExample[],
  options?: { threads?: number; cpuIsa?: CpuIsaOption; signal?: AbortSignal },
): Promise<{ losses: TrainLosses; gradients: Record<string, Float32Array | Float64Array> }> {
  return weightedLossAndGradients(weights, batch, [1, 1, 1, 1, 1], options);
}
