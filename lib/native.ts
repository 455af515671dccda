/**
 * Loads the native addon and describes its interface. The addon is found, in order, at
 * FLWNET_ADDON (a path to a .node file), build-cmake/Release (cmake-js, possibly with CUDA) and
 * build/Release (node-gyp, CPU only).
 */
import fs from 'node:fs';
import path from 'node:path';
import { FlwnetError } from './errors';

export interface NativeImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface NativeRequest extends NativeImage {
  exposure: number;
  /** Receives width * height * channels values. */
  out: Uint8Array | Float32Array;
}

export interface NativeGlobalResult {
  features: Float64Array;
  curve: Float64Array;
}

export interface NativeEngineOptions {
  device: 'cpu' | 'cuda';
  deviceIndex?: number;
  threads?: number;
  precision?: 'exact' | 'fast';
  cudnn?: boolean;
  maxPixels?: number;
  cpuIsa?: 'auto' | 'scalar' | 'avx2' | 'avx512';
  cpuWinograd?: boolean;
  /** CPU convolutions for e1..e6: 2-D Winograd blocks (auto) or the row-wise F(6,3) kernels. */
  cpuKernel?: 'auto' | 'blocks' | 'rows';
  cudaExactKernel?: 'stream' | 'tile';
  cudaFastKernel?: 'wmma' | 'mma';
  cudaLevelCounts?: 'shared' | 'warp';
}

export interface NativeEngine {
  readonly deviceName: string;
  readonly description: string;
  readonly maxConcurrentRequests: number;
  readonly preferredBatch: number;
  enhance(requests: NativeRequest[], cancel?: Int32Array): Promise<NativeGlobalResult[]>;
  inspect(image: NativeImage, exposure: number): Promise<NativeGlobalResult>;
  close(): void;
}

export interface NativeCudaDevice {
  index: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  multiprocessors: number;
}

export interface NativeCudaInfo {
  compiled: boolean;
  cudnnCompiled: boolean;
  runtimeVersion: number;
  driverVersion: number;
  devices: NativeCudaDevice[];
  error?: string;
}

/** An image for the losses: interleaved samples, uint8 (value / 255) or float32; alpha ignored. */
export interface NativeLossImage {
  data: Uint8Array | Float32Array;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface NativeLossOptions {
  device?: 'cpu' | 'cuda';
  deviceIndex?: number;
  threads?: number;
  /** Force a CPU instruction set (as Engine's cpuIsa); default 'auto'. */
  cpuIsa?: 'auto' | 'scalar' | 'avx2' | 'avx512';
  /** Leave out SSIM (ssim, ssimLoss and total become NaN). CPU only. */
  ssim?: boolean;
  /** Leave out CIEDE2000 (NaN). CPU only. */
  ciede2000?: boolean;
}

/** The training loss terms, as the addon's evaluation and training step both report them. */
export interface LossTerms {
  l1: number;
  ssimLoss: number;
  color: number;
  brightness: number;
  structure: number;
  /** l1 + ssimLoss + color + brightness + structure (the paper's L_ALL). */
  total: number;
}

export interface NativeLossReport extends LossTerms {
  psnr: number;
  ssim: number;
  ciede2000: number;
}

/** One training pair as the addon takes it: RGB bytes of equal size; exposure NaN = from `high`. */
export interface NativeTrainExample {
  low: Uint8Array;
  high: Uint8Array;
  width: number;
  height: number;
  exposure: number;
}

export interface AdamConfig {
  beta1: number;
  beta2: number;
  eps: number;
  /** >= 0. Added to the gradient (L2, as the authors do) unless `decoupledWeightDecay` (AdamW). */
  weightDecay: number;
  decoupledWeightDecay: boolean;
  /** Clip the global gradient L2 norm to this value before the update; 0 = off. */
  clipGradNorm: number;
}

export interface NativeTrainerOptions extends AdamConfig {
  /** 0 = the number of cores. */
  threads: number;
  cpuIsa: string;
}

export interface NativeStepResult {
  /** l1, ssimLoss, color, brightness, structure, total. */
  losses: Float64Array;
  gradNorm: number;
  applied: boolean;
}

export interface NativeTrainer {
  step(batch: NativeTrainExample[], lr: number, cancel: Int32Array): Promise<NativeStepResult>;
  params(): Float32Array;
  optimizerState(): { step: number; m: Float32Array; v: Float32Array };
  setOptimizerState(step: number, m: Float32Array, v: Float32Array): void;
  close(): void;
}

export interface NativeModule {
  Engine: new (weights: Float32Array, options: NativeEngineOptions) => NativeEngine;
  cudaCompiled: boolean;
  /** The CPU instruction sets this processor runs, scalar first. */
  cpuIsas: ('scalar' | 'avx2' | 'avx512')[];
  cudaInfo(): NativeCudaInfo;
  evaluateLosses(enhanced: NativeLossImage, reference: NativeLossImage, options?: NativeLossOptions): Promise<NativeLossReport>;
  /** CIEDE2000 of each [L1, a1, b1, L2, a2, b2] group. */
  ciede2000Lab(pairs: Float64Array): Promise<Float64Array>;
  /** The network graph of native/core/network_graph.h (bench/network_graph.json). */
  networkGraph(): unknown;
  /** Every backend's local-branch schedule, as checked against the graph. */
  localSchedules(): Record<string, unknown>;
  /** Throws ERR_FLWNET_INTERNAL when `schedule` disagrees with the graph. */
  checkLocalSchedule(schedule: unknown): void;
  Trainer: new (params: Float32Array, options: NativeTrainerOptions) => NativeTrainer;
  /** Losses and the gradient of sum(lossWeights[i] * loss_i) in packed order. */
  trainLossAndGradients(
    params: Float32Array,
    batch: NativeTrainExample[],
    lossWeights: Float64Array,
    threads: number,
    cancel: Int32Array,
    cpuIsa?: string,
  ): Promise<{ losses: Float64Array; gradients: Float64Array }>;
  /** Where the module was loaded from. */
  path: string;
}

const packageRoot = path.resolve(__dirname, '..');

function candidatePaths(): string[] {
  const fromEnv = process.env.FLWNET_ADDON;
  if (fromEnv) return [path.resolve(fromEnv)];
  return [
    path.join(packageRoot, 'build-cmake', 'Release', 'flwnet.node'),
    path.join(packageRoot, 'build', 'Release', 'flwnet.node'),
  ];
}

let cached: NativeModule | undefined;

/** The addon, loaded once. Throws a FlwnetError saying how to build it when it is missing. */
export function loadNative(): NativeModule {
  if (cached) return cached;
  const candidates = candidatePaths();
  const found = candidates.find((p) => fs.existsSync(p));
  if (!found) {
    throw new FlwnetError(
      'ERR_FLWNET_INTERNAL',
      `the flwnet native addon is not built (looked in ${candidates.join(', ')}); run "npm run build"`,
    );
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(found) as Omit<NativeModule, 'path'>;
    cached = { ...mod, path: found } as NativeModule;
    return cached;
  } catch (err) {
    throw new FlwnetError('ERR_FLWNET_INTERNAL', `the flwnet native addon at ${found} failed to load: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
