/**
 * The training API: a Trainer owns the native training core (master weights and Adam state) and
 * runs single steps or whole fits.
 *
 *   const trainer = await Trainer.create({ init: 'random', seed: 1 });
 *   const run = trainer.fit({ data: { photos: 'photos/' }, steps: 2000, out: 'mine.safetensors' });
 *   for await (const p of run) if (p.type === 'validation') console.log(p.step, p.psnr);
 *   const enhancer = await Enhancer.create({ weights: trainer.weights() });
 *
 * Defaults (and why): Adam with betas 0.9 / 0.999, eps 1e-8 and L2 weight decay 1e-4 added to the
 * gradient, as the authors train; but a peak learning rate of 1e-3 (the authors' 1e-4 is tuned for
 * batch 171 over many epochs) with a short linear warm-up and cosine decay to 1e-5, and the
 * gradient norm clipped at 1, which together make short CPU runs from random initialisation
 * converge quickly and stably. `AUTHORS_SETTINGS` gives their exact settings.
 */
import { InvalidOptionError } from '../errors';
import { checkOptionKeys } from '../options';
import { FLWNET_PARAM_COUNT, FLWNET_WEIGHT_SCHEMA, FlwnetWeights, loadWeights } from '../weights';
import { loadOptimizerCheckpoint, loadWeightsCheckpoint, saveOptimizerCheckpoint, saveWeightsCheckpoint, siblingPath, type TrainingRecord } from './checkpoint';
import { runFit, TrainingRun, type FitOptions } from './fit';
import { AUTHORS_ADAM, TrainerCore, type AdamConfig, type OptimizerState, type StepResult, type TrainExample } from './native-trainer';
import { checkSeed, Rng } from './rng';
import { DEFAULT_LR } from './schedule';

export const DEFAULT_ADAM: Readonly<AdamConfig> = Object.freeze({ ...AUTHORS_ADAM, clipGradNorm: 1 });
export { DEFAULT_LR };

/** The authors' settings (docs/numerics.md §9): pass to fit() and Trainer.create({ adam }). */
export const AUTHORS_SETTINGS = Object.freeze({
  adam: AUTHORS_ADAM,
  fit: Object.freeze({ lr: 1e-4, schedule: 'constant' as const, warmup: 0, batch: 171, crop: 100 }),
});

export interface TrainerOptions {
  /** Starting weights: 'random' (default; Kaiming-uniform from the seed), a .pth/.safetensors path or bytes, loaded weights, or packed floats. */
  init?: 'random' | string | Uint8Array | FlwnetWeights | Float32Array;
  /** Continue the run saved at this checkpoint path (its `.optim.safetensors` beside it). Excludes `init`. */
  resume?: string;
  /** Seeds the initialisation, the validation split and the batches. Default 0. */
  seed?: number;
  /** Only 'cpu' for now. */
  device?: 'cpu';
  /** Native worker threads (default: all cores). */
  threads?: number;
  /** Adam settings; defaults DEFAULT_ADAM. */
  adam?: Partial<AdamConfig>;
}

const TRAINER_KEYS = ['init', 'resume', 'seed', 'device', 'threads', 'adam'] as const;
const INIT_STREAM = 2 ** 52 + 2;

/**
 * PyTorch's default Conv2d initialisation (kaiming_uniform_ with a = sqrt(5)): weights and biases
 * uniform in +-1/sqrt(fan_in), fan_in = in_channels * kh * kw, drawn from the seed in packed order.
 */
export function randomWeights(seed: number): FlwnetWeights {
  const rng = Rng.derive(checkSeed(seed), INIT_STREAM);
  const packed = new Float32Array(FLWNET_PARAM_COUNT);
  let offset = 0;
  let fanIn = 1;
  for (const [name, shape] of FLWNET_WEIGHT_SCHEMA) {
    if (name.endsWith('.weight')) fanIn = shape.slice(1).reduce((a, b) => a * b, 1);
    const bound = 1 / Math.sqrt(fanIn);
    const count = shape.reduce((a, b) => a * b, 1);
    for (let i = 0; i < count; i++) packed[offset + i] = rng.uniform(-bound, bound);
    offset += count;
  }
  return FlwnetWeights.fromPacked(packed, `random initialisation (seed ${seed})`);
}

function checkAdamOverrides(adam: unknown, base: AdamConfig): AdamConfig {
  if (adam === undefined) return { ...base };
  const a = checkOptionKeys('adam', adam, Object.keys(DEFAULT_ADAM));
  return { ...base, ...(a as Partial<AdamConfig>) }; // TrainerCore.create checks each value
}

async function initialWeights(init: TrainerOptions['init'], seed: number): Promise<FlwnetWeights> {
  if (init === undefined || init === 'random') return randomWeights(seed);
  if (init instanceof Float32Array) return FlwnetWeights.fromPacked(init);
  return loadWeights(init);
}

/** What a resumed trainer continues from. */
export interface ResumeState {
  record: TrainingRecord;
  file: string;
}

export class Trainer {
  /** The next batch index: steps fit() has completed (custom step() calls do not count). */
  nextBatch = 0;
  /** Set when created with `resume`. */
  readonly resumed: ResumeState | undefined;
  private running = false;

  private constructor(
    private readonly core: TrainerCore,
    readonly seed: number,
    readonly threads: number | undefined,
    readonly adam: AdamConfig,
    resumed?: ResumeState,
  ) {
    this.resumed = resumed;
    if (resumed) this.nextBatch = resumed.record.step;
  }

  static async create(options: TrainerOptions = {}): Promise<Trainer> {
    const o = checkOptionKeys('Trainer.create', options, TRAINER_KEYS) as TrainerOptions;
    if (o.device !== undefined && o.device !== 'cpu') throw new InvalidOptionError(`device must be 'cpu' (training runs on the CPU), got ${String(o.device)}`);
    if (o.resume !== undefined) return Trainer.resume(o);
    const seed = checkSeed(o.seed ?? 0);
    const adam = checkAdamOverrides(o.adam, DEFAULT_ADAM);
    const weights = await initialWeights(o.init, seed);
    return new Trainer(TrainerCore.create({ params: weights.packed(), threads: o.threads, adam }), seed, o.threads, adam);
  }

  private static async resume(o: TrainerOptions): Promise<Trainer> {
    if (o.init !== undefined) throw new InvalidOptionError('give init or resume, not both');
    const file = o.resume!;
    const { weights, record } = await loadWeightsCheckpoint(file);
    if (!record) throw new InvalidOptionError(`${file} has no training record: it was not written by a flwnet training run`);
    const optim = await loadOptimizerCheckpoint(siblingPath(file, 'optim.safetensors'));
    if (optim.paramsSha256 !== weights.sha256()) {
      throw new InvalidOptionError(`${siblingPath(file, 'optim.safetensors')} belongs to other weights than ${file} (params_sha256 differs)`);
    }
    if (optim.nextBatch !== record.step || optim.seed !== record.seed) {
      throw new InvalidOptionError(`${file} (step ${record.step}) and its optimiser state (step ${optim.nextBatch}) disagree`);
    }
    if (o.seed !== undefined && checkSeed(o.seed) !== record.seed) {
      throw new InvalidOptionError(`seed ${o.seed} differs from the resumed run's seed ${record.seed}`);
    }
    const adam = checkAdamOverrides(o.adam, record.options.adam as AdamConfig);
    if (JSON.stringify(adam) !== JSON.stringify(record.options.adam)) {
      throw new InvalidOptionError(`adam settings differ from the resumed run's (${JSON.stringify(record.options.adam)})`);
    }
    const core = TrainerCore.create({ params: weights.packed(), threads: o.threads, adam });
    core.setOptimizerState(optim.state);
    return new Trainer(core, record.seed, o.threads, adam, { record, file });
  }

  /** One optimisation step on `batch` at learning rate `lr` (default DEFAULT_LR), for custom loops. */
  async step(batch: TrainExample[], options: { lr?: number; signal?: AbortSignal } = {}): Promise<StepResult> {
    return this.core.step(batch, options.lr ?? DEFAULT_LR, options.signal);
  }

  /** The current weights, usable directly by Enhancer.create({ weights }). */
  weights(): FlwnetWeights {
    return FlwnetWeights.fromPacked(this.core.params(), `trained weights (step ${this.nextBatch})`);
  }

  optimizerState(): OptimizerState {
    return this.core.optimizerState();
  }

  /** Writes the weights (safetensors, with `record` in the metadata) and Adam's state beside them. */
  async save(file: string, record?: TrainingRecord): Promise<FlwnetWeights> {
    const weights = this.weights();
    await saveWeightsCheckpoint(weights, file, record);
    await saveOptimizerCheckpoint(siblingPath(file, 'optim.safetensors'), {
      state: this.core.optimizerState(),
      seed: this.seed,
      nextBatch: this.nextBatch,
      paramsSha256: weights.sha256(),
    });
    return weights;
  }

  /**
   * Trains on `options.data` for `options.steps` steps (counted from the start of the run, so a
   * resumed run finishes where the original would have). The returned run is an async iterator of
   * progress records and an EventEmitter ('step', 'validation', 'checkpoint'); `run.result`
   * resolves when it ends.
   */
  fit(options: FitOptions): TrainingRun {
    if (this.running) throw new InvalidOptionError('this trainer is already fitting');
    this.running = true;
    const run = new TrainingRun();
    run.start(() => runFit(this, options, run)).finally(() => {
      this.running = false;
    });
    return run;
  }

  close(): void {
    this.core.close();
  }
}
