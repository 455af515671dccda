/**
 * flwnet: FLW-Net low-light image enhancement.
 *
 *   import { enhance } from 'flwnet';
 *   const bright = await enhance(darkJpeg, { weights: 'flwnet-official.pth' });
 */
import { checkEnhanceOptions, ENHANCE_KEYS, ENHANCER_KEYS, type EnhanceOptions, type EnhancerOptions } from './enhancer';
import { loadNative, type NativeCudaInfo } from './native';
import { publicCall } from './call-site';
import { checkOptionKeys } from './options';
import { withSharedEnhancer } from './shared-engines';
import { FlwnetWeights, loadWeights as loadWeightsFrom, saveSafetensors as saveSafetensorsTo } from './weights';

export * from './errors';
export {
  Enhancer,
  type EnhanceOptions,
  type EnhancerOptions,
  type EnhanceRawOptions,
  type CloseOptions,
  type InspectOptions,
  type InspectResult,
  type RawInput,
  type RawOutput,
  type WeightsSource,
} from './enhancer';
export {
  BatchRun,
  type BatchRunEvents,
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
  type CpuIsaOption,
  type CudaExactKernelOption,
  type CudaFastKernelOption,
  type CudaLevelCountsOption,
  type DeviceOption,
  type ExposureOption,
  type MetadataOption,
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
// loadWeights and saveSafetensors are exported below, wrapped so their errors point at the caller.
export * from './weights';
export {
  evaluate,
  losses,
  ciede2000Lab,
  ciede2000LabPairs,
  type EvaluateOptions,
  type Evaluation,
  type LabColor,
  type LabOptions,
  type LossImage,
  type LossInput,
} from './losses';

export type EnhanceAllOptions = EnhanceOptions & EnhancerOptions;

/**
 * Enhances one encoded image and returns it encoded (same format as the input unless `format`).
 * Engines are created on first use and shared between calls with the same engine options.
 */
export function enhance(input: Uint8Array, options: EnhanceAllOptions = {}): Promise<Buffer> {
  return publicCall(async () => {
    const all = checkOptionKeys('enhance', options, [...ENHANCER_KEYS, ...ENHANCE_KEYS]);
    const engineOptions: Record<string, unknown> = {};
    const callOptions: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(all)) {
      if (value === undefined) continue;
      (ENHANCER_KEYS.includes(key) ? engineOptions : callOptions)[key] = value;
    }
    checkEnhanceOptions(callOptions); // before loading weights, so bad options fail fast
    return withSharedEnhancer(engineOptions as EnhancerOptions, (enhancer) => enhancer.enhance(input, callOptions as EnhanceOptions));
  });
}

/** Loads and validates FLW-Net weights from a path, checkpoint bytes, or loaded weights. */
export function loadWeights(src: string | Uint8Array | FlwnetWeights): Promise<FlwnetWeights> {
  return publicCall(() => loadWeightsFrom(src));
}

/** Writes the weights as safetensors, through a temporary file renamed into place. */
export function saveSafetensors(weights: FlwnetWeights, file: string): Promise<void> {
  return publicCall(() => saveSafetensorsTo(weights, file));
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
