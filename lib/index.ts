/**
 * flwnet: FLW-Net low-light image enhancement.
 *
 *   import { enhance } from 'flwnet';
 *   const bright = await enhance(darkJpeg, { weights: 'flwnet-official.pth' });
 */
import { checkEnhanceOptions, Enhancer, ENHANCE_KEYS, ENHANCER_KEYS, type EnhanceOptions, type EnhancerOptions } from './enhancer';
import { loadNative, type NativeCudaInfo } from './native';
import { checkOptionKeys } from './options';

export * from './errors';
export {
  Enhancer,
  type EnhanceOptions,
  type EnhancerOptions,
  type EnhanceRawOptions,
  type InspectResult,
  type RawInput,
  type RawOutput,
  type WeightsSource,
} from './enhancer';
export {
  BatchRun,
  type BatchFailure,
  type BatchInput,
  type BatchItem,
  type BatchProgress,
  type BatchResult,
  type BatchSource,
  type BatchSuccess,
  type EnhanceManyOptions,
} from './batch';
export {
  DEFAULT_EXPOSURE,
  DEFAULT_MAX_PIXELS,
  MAX_PIXELS_LIMIT,
  type BackendOption,
  type DeviceOption,
  type ExposureOption,
  type OutputFormat,
  type PrecisionOption,
} from './options';
export {
  DEFAULT_WEIGHTS_PATH,
  ExposurePredictor,
  fitExposurePredictor,
  type ExposurePredictorSource,
  type ExposureSample,
} from './exposure';
export * from './weights';
export {
  evaluate,
  losses,
  ciede2000Lab,
  ciede2000LabPairs,
  type EvaluateOptions,
  type Evaluation,
  type LabColor,
  type LossImage,
  type LossInput,
} from './losses';

export type EnhanceAllOptions = EnhanceOptions & EnhancerOptions;


/** Enhancers shared by `enhance()` calls with the same engine settings (a small LRU). */
const sharedEnhancers = new Map<string, Promise<Enhancer>>();
const SHARED_ENHANCER_LIMIT = 4;
const weightObjectIds = new WeakMap<object, number>();
let nextWeightObjectId = 1;

function enhancerKey(options: EnhancerOptions): string | undefined {
  const weights = options.weights ?? process.env.FLWNET_WEIGHTS;
  let weightsKey: string;
  if (typeof weights === 'string') weightsKey = `path:${weights}`;
  else if (weights && typeof weights === 'object') {
    if (!weightObjectIds.has(weights)) weightObjectIds.set(weights, nextWeightObjectId++);
    weightsKey = `object:${weightObjectIds.get(weights)}`;
  } else return undefined;
  const { device, threads, precision, backend, maxPixels } = options;
  return JSON.stringify([weightsKey, device, threads, precision, backend, maxPixels]);
}

async function sharedEnhancer(options: EnhancerOptions): Promise<Enhancer> {
  const key = enhancerKey(options);
  if (key === undefined) return Enhancer.create(options); // throws the "no weights" error
  let entry = sharedEnhancers.get(key);
  if (entry) {
    sharedEnhancers.delete(key);
  } else {
    entry = Enhancer.create(options);
    entry.catch(() => sharedEnhancers.delete(key));
  }
  sharedEnhancers.set(key, entry);
  while (sharedEnhancers.size > SHARED_ENHANCER_LIMIT) {
    const [oldestKey, oldest] = sharedEnhancers.entries().next().value as [string, Promise<Enhancer>];
    sharedEnhancers.delete(oldestKey);
    oldest.then((e) => e.close(), () => undefined);
  }
  return entry;
}

/**
 * Enhances one encoded image and returns it encoded (same format as the input unless `format`).
 * Engines are created on first use and shared between calls with the same engine options.
 */
export async function enhance(input: Uint8Array, options: EnhanceAllOptions = {}): Promise<Buffer> {
  const all = checkOptionKeys('enhance', options, [...ENHANCER_KEYS, ...ENHANCE_KEYS]);
  const engineOptions: Record<string, unknown> = {};
  const callOptions: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(all)) {
    if (value === undefined) continue;
    (ENHANCER_KEYS.includes(key) ? engineOptions : callOptions)[key] = value;
  }
  checkEnhanceOptions(callOptions); // before loading weights, so bad options fail fast
  const enhancer = await sharedEnhancer(engineOptions as EnhancerOptions);
  return enhancer.enhance(input, callOptions as EnhanceOptions);
}

/** What the GPU side of this build sees: compiled in or not, devices, driver and runtime versions. */
export function gpuInfo(): NativeCudaInfo {
  const native = loadNative();
  if (!native.cudaCompiled) {
    return { compiled: false, cudnnCompiled: false, runtimeVersion: 0, driverVersion: 0, devices: [] };
  }
  return native.cudaInfo();
}
export {
  Trainer,
  TrainingRun,
  lossAndGradients,
  randomWeights,
  AUTHORS_SETTINGS,
  DEFAULT_ADAM,
  DEFAULT_DEGRADATION,
  type AdamConfig,
  type DataSource,
  type DegradationModel,
  type FitOptions,
  type FitResult,
  type StepResult,
  type TrainerOptions,
  type TrainExample,
  type TrainLosses,
  type TrainProgress,
} from './train';
