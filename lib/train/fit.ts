/**
 * trainer.fit(): the training loop. Batches come from a worker thread one step ahead, steps run
 * natively, validation enhances held-out images with the current weights at the reference
 * exposure and scores them with evaluate(), and checkpoints are written atomically. Aborting
 * (AbortSignal, Ctrl-C in the CLI) and divergence both end with a checkpoint of the last good weights.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import { Enhancer } from '../enhancer';
import { AbortError, InvalidOptionError } from '../errors';
import { meanBrightness } from '../exposure';
import { evaluate } from '../losses';
import { checkOptionKeys } from '../options';
import type { FlwnetWeights } from '../weights';
import { saveWeightsCheckpoint, siblingPath, type TrainingRecord, type ValidationMetrics } from './checkpoint';
import { checkBatchSpec, DEFAULT_MAX_SIDE, loadPairSet, loadPhotoSet, splitSet, validationPairs, type BatchSpec, type Flips, type TrainingSet, type ValidationPair } from './data';
import { DEFAULT_DEGRADATION, type DegradationModel } from './degrade';
import type { TrainLosses } from './native-trainer';
import { BatchPrefetcher } from './prefetch';
import { checkSchedule, DEFAULT_LR, learningRate, type Schedule } from './schedule';
import type { Trainer } from './trainer';

export type DataSource = TrainingSet | { photos: string } | { low: string; high: string };

export interface FitOptions {
  /** Training data: a directory of well-exposed photos (synthetic pairs), paired directories, or a loaded set. */
  data: DataSource;
  /** Held-out pairs (directories paired by name, or prepared pairs). Default: a seeded `valSplit` of the data. */
  validation?: Array<{ low: string; high: string }> | ValidationPair[];
  /** Fraction of the data held out when `validation` is not given. Default 0.1 (0 = no validation). */
  valSplit?: number;
  /** Longest image side after decoding. Default 1024. */
  maxSide?: number;
  /** Total steps of the run. */
  steps: number;
  /** Crops per batch. Default 16. */
  batch?: number;
  /** Crop side. Default 100 (the authors'). */
  crop?: number;
  flips?: Flips;
  degradation?: Partial<DegradationModel>;
  /** Peak learning rate. Default 1e-3. */
  lr?: number;
  minLr?: number;
  /** Warm-up steps. Default min(100, steps / 20). */
  warmup?: number;
  schedule?: 'cosine' | 'constant';
  /** Validate every this many steps (and at the end). Default steps / 20, at least 1. */
  valEvery?: number;
  /** Write `out` every this many steps (and at the end). Default valEvery. */
  checkpointEvery?: number;
  /** Checkpoint path (.safetensors): the last weights; `<out>.best.safetensors` the best; `<out>.optim.safetensors` Adam's state. */
  out?: string;
  /** Consecutive non-finite steps after which the run stops as diverged. Default 5. */
  maxBadSteps?: number;
  /** Stops the run at the next step boundary (a running validation is cancelled) with a checkpoint that resumes. */
  signal?: AbortSignal;
}

const FIT_KEYS = [
  'data', 'validation', 'valSplit', 'maxSide', 'steps', 'batch', 'crop', 'flips', 'degradation', 'lr', 'minLr', 'warmup',
  'schedule', 'valEvery', 'checkpointEvery', 'out', 'maxBadSteps', 'signal',
];

export type TrainProgress =
  | { type: 'step'; step: number; steps: number; losses: TrainLosses; lr: number; gradNorm: number; applied: boolean; mpixPerSecond: number; elapsedSeconds: number; etaSeconds: number }
  | ({ type: 'validation'; best: boolean } & ValidationMetrics)
  | { type: 'checkpoint'; step: number; file: string; reason: string };

export interface FitResult {
  /** Steps completed, counted from the start of the run. */
  step: number;
  stopped: 'completed' | 'aborted' | 'diverged';
  /** Why it stopped, when not completed. */
  message?: string;
  weights: FlwnetWeights;
  losses?: TrainLosses;
  validation: { first?: ValidationMetrics; last?: ValidationMetrics; best?: ValidationMetrics };
  files: { last?: string; best?: string; optimizer?: string };
  dataHash: string;
  trainImages: number;
  validationImages: number;
  /**
   * Every decoded image of `data` (before the validation split), so that later fits on the same data
   * need not decode it again; drop the result to free them.
   */
  data: TrainingSet;
}

/** A running fit: an async iterator of progress records and an EventEmitter of the same records by type. */
export class TrainingRun extends EventEmitter implements AsyncIterable<TrainProgress> {
  result!: Promise<FitResult>;
  private readonly readers = new Set<{ queue: TrainProgress[]; wake?: () => void }>();
  private ended = false;
  private failure: unknown;

  /** @internal */
  start(body: () => Promise<FitResult>): Promise<unknown> {
    this.result = Promise.resolve().then(body);
    return this.result.then(
      () => this.end(),
      (err) => this.end(err),
    );
  }

  /** @internal */
  publish(record: TrainProgress): void {
    for (const reader of this.readers) {
      reader.queue.push(record);
      reader.wake?.();
    }
    this.emit(record.type, record);
    this.emit('progress', record);
  }

  private end(err?: unknown): void {
    this.ended = true;
    this.failure = err;
    for (const reader of this.readers) reader.wake?.();
  }

  /** Records from the moment iteration starts (iterate right away to see them all); throws what the fit rejected with. */
  async *[Symbol.asyncIterator](): AsyncGenerator<TrainProgress> {
    const reader: { queue: TrainProgress[]; wake?: () => void } = { queue: [] };
    this.readers.add(reader);
    try {
      for (;;) {
        if (reader.queue.length > 0) yield reader.queue.shift()!;
        else if (this.ended) break;
        else await new Promise<void>((resolve) => (reader.wake = resolve));
      }
      if (this.failure !== undefined) throw this.failure;
    } finally {
      this.readers.delete(reader);
    }
  }
}

interface Plan {
  all: TrainingSet;
  set: TrainingSet;
  spec: BatchSpec;
  schedule: Schedule;
  validation: ValidationPair[];
  valEvery: number;
  checkpointEvery: number;
  maxBadSteps: number;
  /** The options that decide the weights; a resume must match them. */
  trajectory: Record<string, unknown>;
}

function checkCount(name: string, value: unknown, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > 1e9) {
    throw new InvalidOptionError(`${name} must be an integer in [${min}, 1e9], got ${String(value)}`);
  }
  return value as number;
}

async function loadSource(data: DataSource, maxSide: number): Promise<TrainingSet> {
  if (typeof data !== 'object' || data === null) throw new InvalidOptionError('data must be { photos }, { low, high } or a loaded training set');
  if ('images' in data) return data;
  if ('photos' in data && typeof data.photos === 'string') return loadPhotoSet(data.photos, { maxSide });
  if ('low' in data && 'high' in data && typeof data.low === 'string' && typeof data.high === 'string') return loadPairSet(data.low, data.high, { maxSide });
  throw new InvalidOptionError('data must be { photos: dir }, { low: dir, high: dir } or a loaded training set');
}

async function loadValidation(
  given: FitOptions['validation'],
  maxSide: number,
): Promise<ValidationPair[]> {
  if (!Array.isArray(given)) throw new InvalidOptionError('validation must be an array of { low, high } directories or pairs');
  const pairs: ValidationPair[] = [];
  for (const entry of given) {
    if (typeof entry !== 'object' || entry === null) throw new InvalidOptionError('each validation entry must be { low, high }');
    if (typeof entry.low === 'string' && typeof entry.high === 'string') {
      const set = await loadPairSet(entry.low, entry.high, { maxSide });
      pairs.push(...(await validationPairs(set.images, DEFAULT_DEGRADATION, 0)));
    } else pairs.push(entry as ValidationPair);
  }
  return pairs;
}

async function plan(trainer: Trainer, options: FitOptions): Promise<Plan> {
  const o = checkOptionKeys('fit', options, FIT_KEYS) as unknown as FitOptions;
  const steps = checkCount('steps', o.steps, Number.NaN);
  const schedule = checkSchedule({ kind: o.schedule, lr: o.lr ?? DEFAULT_LR, minLr: o.minLr, steps, warmup: o.warmup ?? Math.min(100, Math.floor(steps / 20)) });
  const valEvery = checkCount('valEvery', o.valEvery, Math.max(1, Math.round(steps / 20)));
  const checkpointEvery = checkCount('checkpointEvery', o.checkpointEvery, valEvery);
  const maxBadSteps = checkCount('maxBadSteps', o.maxBadSteps, 5);
  const maxSide = checkCount('maxSide', o.maxSide, DEFAULT_MAX_SIDE, 16);
  if (o.out !== undefined && (typeof o.out !== 'string' || o.out === '')) throw new InvalidOptionError('out must be a file path');
  const valSplit = o.validation !== undefined ? 0 : (o.valSplit ?? 0.1);
  // Options are checked before the (slow) decoding, so a typo fails at once.
  checkBatchSpec({ seed: trainer.seed, batch: o.batch ?? 16, crop: o.crop ?? 100, flips: o.flips, degradation: o.degradation });
  const all = await loadSource(o.data, maxSide);
  const { train, validation: held } = splitSet(all, valSplit, trainer.seed);
  const spec = checkBatchSpec({ seed: trainer.seed, batch: o.batch ?? 16, crop: o.crop ?? 100, flips: o.flips, degradation: o.degradation }, train);
  const validation = o.validation !== undefined ? await loadValidation(o.validation, maxSide) : await validationPairs(held, spec.degradation, trainer.seed);
  const trajectory = {
    batch: spec.batch, crop: spec.crop, flips: spec.flips, degradation: spec.degradation, schedule, maxSide, valSplit,
    adam: trainer.adam, dataHash: train.hash, trainImages: train.images.map((im) => im.name),
  };
  return { all, set: train, spec, schedule, validation, valEvery, checkpointEvery, maxBadSteps, trajectory };
}

function checkResumable(trainer: Trainer, p: Plan): void {
  const saved = trainer.resumed?.record.options;
  if (!saved) return;
  const differing = Object.keys(p.trajectory).filter((k) => JSON.stringify(saved[k]) !== JSON.stringify(p.trajectory[k]));
  if (differing.length > 0) {
    throw new InvalidOptionError(`cannot resume ${trainer.resumed!.file}: ${differing.join(', ')} differ from the saved run (resume with the same data and options)`);
  }
  if (trainer.nextBatch > p.schedule.steps) throw new InvalidOptionError(`the saved run is at step ${trainer.nextBatch}, past steps ${p.schedule.steps}`);
}

/** Mean PSNR, SSIM and total loss of the held-out pairs enhanced with `weights` at their reference exposure. */
export async function validate(weights: FlwnetWeights, pairs: ValidationPair[], threads?: number, signal?: AbortSignal): Promise<Omit<ValidationMetrics, 'step'>> {
  const enhancer = await Enhancer.create({ weights, device: 'cpu', threads });
  let psnr = 0;
  let ssim = 0;
  let total = 0;
  try {
    for (const pair of pairs) {
      const exposure = meanBrightness(pair.high.data, pair.high.channels);
      const out = await enhancer.enhanceRaw(pair.low, { exposure, output: 'float32', signal });
      for (let i = 0; i < out.data.length; i++) out.data[i] = Math.min(1, Math.max(0, out.data[i]));
      const m = await evaluate(out, pair.high, { device: 'cpu' });
      psnr += m.psnr;
      ssim += m.ssim;
      total += m.total;
    }
  } finally {
    await enhancer.close();
  }
  return { psnr: psnr / pairs.length, ssim: ssim / pairs.length, total: total / pairs.length };
}

class FitState {
  first?: ValidationMetrics;
  last?: ValidationMetrics;
  best?: ValidationMetrics;
  losses?: TrainLosses;
  files: FitResult['files'] = {};
  constructor(readonly trainer: Trainer, readonly p: Plan, readonly run: TrainingRun, readonly out?: string) {
    const metrics = trainer.resumed?.record.metrics;
    this.last = metrics?.last;
    this.best = metrics?.best;
  }

  record(reason: string): TrainingRecord {
    return {
      step: this.trainer.nextBatch,
      seed: this.trainer.seed,
      options: this.p.trajectory,
      // File names without directories: weights that get shared should not carry the trainer's paths.
      data: { hash: this.p.set.hash, files: this.p.set.files.map((f) => ({ file: path.basename(f.file), sha256: f.sha256 })) },
      metrics: { last: this.last, best: this.best },
      reason,
    };
  }

  async checkpoint(reason: string): Promise<void> {
    if (!this.out) return;
    await this.trainer.save(this.out, this.record(reason));
    this.files.last = this.out;
    this.files.optimizer = siblingPath(this.out, 'optim.safetensors');
    this.run.publish({ type: 'checkpoint', step: this.trainer.nextBatch, file: this.out, reason });
  }

  async validate(signal?: AbortSignal): Promise<void> {
    if (this.p.validation.length === 0) return;
    const step = this.trainer.nextBatch;
    const metrics = { step, ...(await validate(this.trainer.weights(), this.p.validation, this.trainer.threads, signal)) };
    this.first ??= metrics;
    this.last = metrics;
    const best = !this.best || metrics.psnr > this.best.psnr;
    if (best) this.best = metrics;
    this.run.publish({ type: 'validation', best, ...metrics });
    if (best && this.out) {
      const file = siblingPath(this.out, 'best.safetensors');
      await saveWeightsCheckpoint(this.trainer.weights(), file, this.record('best'));
      this.files.best = file;
      this.run.publish({ type: 'checkpoint', step, file, reason: 'best' });
    }
  }
}

/** @internal The body of trainer.fit(). */
export async function runFit(trainer: Trainer, options: FitOptions, run: TrainingRun): Promise<FitResult> {
  const p = await plan(trainer, options);
  checkResumable(trainer, p);
  const signal = options.signal;
  const state = new FitState(trainer, p, run, options.out);
  const prefetcher = new BatchPrefetcher(p.set.images, p.spec);
  let stopped: FitResult['stopped'] = 'completed';
  let message: string | undefined;
  let bad = 0;
  const started = performance.now();
  const startStep = trainer.nextBatch;
  try {
    if (trainer.nextBatch === 0 || !state.last) await state.validate(signal);
    while (trainer.nextBatch < p.schedule.steps) {
      if (signal?.aborted) throw new AbortError();
      const k = trainer.nextBatch;
      const batch = await prefetcher.get(k);
      const lr = learningRate(p.schedule, k);
      const t0 = performance.now();
      // The step in flight is finished, not cancelled: an abort takes effect at the step boundary.
      const result = await trainer.step(batch, { lr });
      const seconds = (performance.now() - t0) / 1000;
      trainer.nextBatch = k + 1;
      bad = result.applied ? 0 : bad + 1;
      if (result.applied) state.losses = result.losses;
      const elapsedSeconds = (performance.now() - started) / 1000;
      const perStep = elapsedSeconds / (k + 1 - startStep);
      run.publish({
        type: 'step', step: k + 1, steps: p.schedule.steps, losses: result.losses, lr, gradNorm: result.gradNorm, applied: result.applied,
        mpixPerSecond: (p.spec.batch * p.spec.crop * p.spec.crop) / 1e6 / seconds, elapsedSeconds, etaSeconds: perStep * (p.schedule.steps - k - 1),
      });
      if (bad >= p.maxBadSteps) {
        stopped = 'diverged';
        message = `training diverged: ${bad} consecutive steps had a non-finite loss or gradient (last at step ${k + 1}); the weights are those of the last good step${options.out ? `, saved to ${options.out}` : ''}. Try a lower learning rate or gradient clipping`;
        break;
      }
      const last = trainer.nextBatch === p.schedule.steps;
      if (trainer.nextBatch % p.valEvery === 0 || last) await state.validate(signal);
      if (!last && trainer.nextBatch % p.checkpointEvery === 0) await state.checkpoint('periodic');
    }
  } catch (err) {
    if (!(err instanceof AbortError) && !signal?.aborted) throw err;
    stopped = 'aborted';
    message = `training was stopped at step ${trainer.nextBatch}${options.out ? `; the checkpoint ${options.out} resumes it` : ''}`;
  } finally {
    await prefetcher.close();
  }
  await state.checkpoint(stopped === 'completed' ? 'end' : stopped);
  return {
    step: trainer.nextBatch, stopped, message, weights: trainer.weights(), losses: state.losses,
    validation: { first: state.first, last: state.last, best: state.best }, files: state.files,
    dataHash: p.set.hash, trainImages: p.set.images.length, validationImages: p.validation.length, data: p.all,
  };
}
