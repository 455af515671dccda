/**
 * The public inference API: an Enhancer owns one native engine (CPU or GPU) and its queue.
 */
import { enhanceMany, type BatchRun, type BatchSource, type EnhanceManyOptions } from './batch';
import { CallGate, throwIfAborted } from './call-gate';
import { publicCall } from './call-site';
import { chooseDevice, withCpuFallback, type DeviceChoice } from './device';
import { fromNativeError, InvalidOptionError, WeightsError } from './errors';
import { enhanceEncoded } from './enhance-image';
import { checkImageOptions } from './formats';
import { decodeStillImage, type RawImage } from './image-io';
import { loadNative, type NativeEngine, type NativeImage } from './native';
import {
  checkBackend,
  checkCpuIsa,
  checkCpuIsaAvailable,
  checkCpuWinograd,
  checkCudaExactKernel,
  checkCudaFastKernel,
  checkCudaLevelCounts,
  checkDevice,
  checkExposure,
  checkInteger,
  checkOptionKeys,
  checkPrecision,
  checkSignal,
  checkCpuKernel,
  type CpuKernelOption,
  DEFAULT_EXPOSURE,
  DEFAULT_MAX_PIXELS,
  describe,
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
import { checkRawPixels } from './raw-image';
import { Scheduler, Semaphore, type OutputKind } from './scheduler';
import { FlwnetWeights, loadWeights } from './weights';
import {
  defaultWeightsAvailable,
  DEFAULT_WEIGHTS_PATH,
  loadDefaultWeights,
  noPredictorError,
  predictorFor,
  type ExposurePredictor,
  type ExposurePredictorSource,
} from './exposure';

export type WeightsSource = string | Uint8Array | FlwnetWeights;

export interface EnhancerOptions {
  /** Path or bytes of a .pth or .safetensors checkpoint, or loaded weights. Default: env FLWNET_WEIGHTS. */
  weights?: WeightsSource;
  /** 'auto' (a GPU when one works, else the CPU), 'cpu', 'cuda' or 'cuda:N'. Default 'auto'. */
  device?: DeviceOption;
  /** CPU worker threads (default: all cores). */
  threads?: number;
  /** GPU arithmetic: 'exact' (fp32) or 'fast' (tensor cores). The CPU always computes in fp32. */
  precision?: PrecisionOption;
  /** GPU convolutions: 'fused' (flwnet's own kernels) or 'cudnn'. */
  backend?: BackendOption;
  /** Largest image accepted, in pixels. Default 100,000,000; at most 2^28. */
  maxPixels?: number;
  /** CPU instruction set: 'auto' (the best the processor runs) or one forced. Default: env FLWNET_CPU_ISA, else 'auto'. */
  cpuIsa?: CpuIsaOption;
  /** CPU: run e1..e6 through Winograd kernels (false: direct convolutions). Default: env FLWNET_CPU_WINOGRAD ('0'/'1'), else true. */
  cpuWinograd?: boolean;
  /** CPU convolutions for e1..e6: 'blocks' (2-D Winograd), 'rows' (row-wise F(6,3)) or 'auto' (blocks). Default: env FLWNET_CPU_KERNEL, else 'auto'. */
  cpuKernel?: CpuKernelOption;
  /** GPU kernel of precision 'exact': 'stream' or 'tile' (same results). Default: env FLWNET_CUDA_EXACT_KERNEL, else 'stream'. */
  cudaExactKernel?: CudaExactKernelOption;
  /**
   * GPU kernel of precision 'fast': 'wmma' or 'mma' (mma.sync, compute capability 8.0 or newer; older GPUs run 'wmma').
   * Default: env FLWNET_CUDA_FAST_KERNEL, else 'wmma'.
   */
  cudaFastKernel?: CudaFastKernelOption;
  /** GPU V-level counting of the global branch: 'shared' or 'warp' (same counts). Default: env FLWNET_CUDA_LEVEL_COUNTS, else 'shared'. */
  cudaLevelCounts?: CudaLevelCountsOption;
}

export interface EnhanceOptions {
  /** Target mean brightness in [0, 1], or 'auto': predicted from the image. Default 0.4. */
  exposure?: ExposureOption;
  /** Output format; default: the input's (PNG when sharp cannot write the input's format). */
  format?: OutputFormat | 'jpg';
  /** Encoder quality 1..100 for jpeg, webp, avif and tiff (defaults: README, "Encoder defaults"; refused for png, gif, bmp). */
  quality?: number;
  /** 'keep' (default): EXIF, ICC profile and XMP carried over (orientation reset to upright); 'strip': none. */
  metadata?: MetadataOption;
  /** [r, g, b] that alpha is flattened onto for JPEG output. Default white. */
  background?: readonly [number, number, number];
  signal?: AbortSignal;
}

/** Raw interleaved pixels; a canvas ImageData ({ data: Uint8ClampedArray, width, height }) is one too. */
export interface RawInput {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 3 (RGB) or 4 (RGBA); when left out, taken from the data's length. */
  channels?: 3 | 4;
}

export interface RawOutput<T extends Uint8Array | Float32Array = Uint8Array | Float32Array> {
  data: T;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface EnhanceRawOptions {
  exposure?: ExposureOption;
  /** 'uint8' (default): rounded 8-bit pixels; 'float32': the network's unrounded output. */
  output?: OutputKind;
  signal?: AbortSignal;
}

export interface InspectOptions {
  exposure?: ExposureOption;
  signal?: AbortSignal;
}

export interface CloseOptions {
  /** Also reject queued calls and cancel running ones (with ClosedError) instead of letting them finish. */
  force?: boolean;
}

export interface InspectResult {
  /** 12 histogram fractions, vmin, vmax, exposure. */
  features: number[];
  /** The 7 curve parameters the global branch chose. */
  curve: number[];
  /** The target brightness used: the number given, or the one 'auto' chose. */
  exposure: number;
  /** With 'auto': whose predictor chose it ('weights': the weights' own; 'default': the package's default weights'). */
  exposurePredictor?: ExposurePredictorSource;
}

/** The option names of Enhancer.create and of one enhance() call (top-level enhance() takes both). */
export const ENHANCER_KEYS: readonly string[] = [
  'weights', 'device', 'threads', 'precision', 'backend', 'maxPixels', 'cpuIsa', 'cpuWinograd', 'cpuKernel', 'cudaExactKernel',
  'cudaFastKernel', 'cudaLevelCounts',
];
export const ENHANCE_KEYS: readonly string[] = ['exposure', 'format', 'quality', 'metadata', 'background', 'signal'];
const RAW_KEYS = ['exposure', 'output', 'signal'] as const;
const INSPECT_KEYS = ['exposure', 'signal'] as const;

/** Lets only Enhancer.create construct an Enhancer. */
const CREATE = Symbol('Enhancer.create');

export class Enhancer {
  private readonly gate = new CallGate();
  private closing?: Promise<void>;
  private readonly scheduler: Scheduler;
  private readonly pipelineSlots: Semaphore;
  private readonly engine: NativeEngine;

  /** Use `await Enhancer.create(options)`: opening an engine loads weights and may take a while. */
  private constructor(
    token: symbol,
    engine: NativeEngine,
    /** Which backend runs: 'cpu' or 'cuda:N'. */
    readonly device: string,
    /** A human description of the backend, e.g. "cpu (2 threads, avx512)". */
    readonly description: string,
    readonly maxPixels: number,
    readonly weights: FlwnetWeights,
    private readonly autoExposure: { predictor: ExposurePredictor; source: ExposurePredictorSource } | undefined,
  ) {
    if (token !== CREATE) {
      throw new InvalidOptionError('new Enhancer() is not supported: use `await Enhancer.create(options)`, which loads the weights and opens the engine');
    }
    this.engine = engine;
    const concurrency = Math.max(1, engine.maxConcurrentRequests);
    this.scheduler = new Scheduler(engine, concurrency, Math.max(1, engine.preferredBatch));
    // Decoded images waiting for inference are bounded: decode, infer and encode overlap, no more.
    this.pipelineSlots = new Semaphore(concurrency * 2 + 1);
  }

  static create(options: EnhancerOptions = {}): Promise<Enhancer> {
    return publicCall(async () => {
      const opts = checkOptionKeys('Enhancer.create', options, ENHANCER_KEYS);
      const { device, backend, cpuIsa, ...engineSettings } = checkEngineOptions(opts);
      const { maxPixels } = engineSettings;
      const weights = await resolveWeights(opts.weights as WeightsSource | undefined);
      const settings = { ...engineSettings, cudnn: backend === 'cudnn', cpuIsa: checkCpuIsaAvailable(cpuIsa, loadNative().cpuIsas) };
      const engine = await openEngine(device, weights.packed(), settings);
      const auto = await predictorFor(weights);
      return new Enhancer(CREATE, engine, engine.deviceName, engine.description, maxPixels, weights, auto);
    });
  }

  /** Enhances an encoded image (every frame of it) and returns it encoded; see README, "Formats". */
  enhance(input: Uint8Array, options?: EnhanceOptions): Promise<Buffer> {
    return publicCall(async () => {
      const { exposure, signal, ...image } = checkEnhanceOptions(options);
      return this.gate.run(signal, async (callSignal) => {
        const release = await this.pipelineSlots.acquire(callSignal);
        try {
          const infer = async (frame: RawImage, kind: OutputKind) =>
            (await this.infer(frame, exposure, kind, callSignal)).data;
          const encoded = (await enhanceEncoded(input, this.maxPixels, image, infer)).data;
          throwIfAborted(callSignal);
          return encoded;
        } finally {
          release();
        }
      });
    });
  }

  /** Enhances raw interleaved pixels; alpha (channels = 4) is passed through. */
  enhanceRaw(input: RawInput, options: EnhanceRawOptions & { output: 'float32' }): Promise<RawOutput<Float32Array>>;
  enhanceRaw(input: RawInput, options?: EnhanceRawOptions & { output?: 'uint8' }): Promise<RawOutput<Uint8Array>>;
  enhanceRaw(input: RawInput, options?: EnhanceRawOptions): Promise<RawOutput>;
  enhanceRaw(input: RawInput, options?: EnhanceRawOptions): Promise<RawOutput> {
    return publicCall(async () => {
      const opts = checkOptionKeys('enhanceRaw', options, RAW_KEYS);
      const exposure = checkExposure(opts.exposure);
      const output = opts.output ?? 'uint8';
      if (output !== 'uint8' && output !== 'float32') {
        throw new InvalidOptionError(`output must be 'uint8' or 'float32', got ${describe(output)}`);
      }
      const signal = checkSignal(opts.signal);
      const image = this.checkRaw(input);
      return this.gate.run(signal, async (callSignal) => {
        const { data } = await this.infer(image, exposure, output, callSignal);
        return { data, width: image.width, height: image.height, channels: image.channels };
      });
    });
  }

  /**
   * Enhances many images (Buffers, file paths or { input, id } items from an iterable or async
   * iterable) through a bounded pipeline; iterate the result with for-await. See lib/batch.ts.
   * Each item's inference is one call to this engine: after close(), items not yet at inference
   * end as ClosedError results.
   */
  enhanceMany(source: BatchSource, options?: EnhanceManyOptions): BatchRun {
    this.gate.assertOpen();
    const engine = {
      maxPixels: this.maxPixels,
      nativeSlots: Math.max(1, this.engine.maxConcurrentRequests) * Math.max(1, this.engine.preferredBatch),
      assertOpen: () => this.gate.assertOpen(),
      infer: (image: RawImage, exposure: ExposureOption, output: OutputKind, signal: AbortSignal) =>
        this.gate.run(signal, async (callSignal) =>
          (await this.infer(image, exposure, output, callSignal)).data),
    };
    return enhanceMany(engine, source, options);
  }

  /** The global branch alone: the 15 features and 7 curve parameters for an image. */
  inspect(input: RawInput | Uint8Array, options?: InspectOptions): Promise<InspectResult> {
    return publicCall(async () => {
      const opts = checkOptionKeys('inspect', options, INSPECT_KEYS);
      const exposure = checkExposure(opts.exposure);
      const signal = checkSignal(opts.signal);
      const raw = input instanceof Uint8Array ? undefined : this.checkRaw(input);
      return this.gate.run(signal, async (callSignal) => {
        const image = raw ?? (await decodeStillImage(input as Uint8Array, this.maxPixels, 'inspect'));
        throwIfAborted(callSignal);
        // The global branch is one short native call (no cancel point): an abort during it rejects after it.
        const target = await this.resolveExposure(image, exposure);
        const result = await this.globalBranch(image, target);
        throwIfAborted(callSignal);
        const chosen = exposure === 'auto' ? { exposurePredictor: this.autoExposure!.source } : {};
        return { features: Array.from(result.features), curve: Array.from(result.curve), exposure: target, ...chosen };
      });
    });
  }

  /** Whether exposure 'auto' works with these weights, and whose predictor it uses. */
  get autoExposureSource(): ExposurePredictorSource | undefined {
    return this.autoExposure?.source;
  }

  /** The global branch alone (one short native call). */
  private globalBranch(image: NativeImage, exposure: number) {
    return this.engine.inspect(image, exposure).catch((err: unknown) => {
      throw fromNativeError(err);
    });
  }

  /** One image through the scheduler at `exposure` ('auto' resolved for this image first). */
  private async infer(image: NativeImage, exposure: ExposureOption, output: OutputKind, signal: AbortSignal) {
    return this.scheduler.run(image, await this.resolveExposure(image, exposure), output, signal);
  }

  /** A number as it is; 'auto' from the image's global features through the exposure predictor. */
  private async resolveExposure(image: NativeImage, exposure: ExposureOption): Promise<number> {
    if (exposure !== 'auto') return exposure;
    if (!this.autoExposure) throw noPredictorError(this.weights);
    const { features } = await this.globalBranch(image, DEFAULT_EXPOSURE);
    return this.autoExposure.predictor.predict(features);
  }

  /** Calls accepted and not yet settled: decoding, queued, running or encoding. */
  get pending(): number {
    return this.gate.pending;
  }

  /**
   * Closes the engine (see "Closing an engine" in the README). New calls reject with ClosedError at
   * once; calls already accepted finish normally, or with `{ force: true }` queued calls reject and
   * running ones are cancelled, all with ClosedError. Resolves once no call is left and the native
   * engine has been freed. Idempotent: later calls return the same wait (and may add force).
   */
  close(options?: CloseOptions): Promise<void> {
    return publicCall(async () => {
      const opts = checkOptionKeys('close', options, ['force']);
      if (opts.force !== undefined && typeof opts.force !== 'boolean') {
        throw new InvalidOptionError(`force must be a boolean, got ${describe(opts.force)}`);
      }
      this.closing ??= this.gate.close().then(() => this.engine.close());
      if (opts.force) this.gate.abortAll();
      return this.closing;
    });
  }

  private checkRaw(input: unknown): NativeImage {
    return checkRawPixels(input, { label: 'raw input', maxPixels: this.maxPixels, limitHint: 'raise it with maxPixels' });
  }
}

/**
 * The engine options of Enhancer.create() other than the weights, checked and resolved (an option,
 * else its environment variable, else the default). The shared engines of enhance() key on them.
 */
export function checkEngineOptions(opts: EnhancerOptions) {
  const device = checkDevice(opts.device);
  const backend = checkBackend(opts.backend);
  if (backend === 'cudnn' && device === 'cpu') {
    throw new InvalidOptionError("backend 'cudnn' needs a GPU device ('cuda', 'cuda:N' or 'auto')");
  }
  return {
    device,
    backend,
    threads: checkInteger('threads', opts.threads, 1, 1024, 0),
    precision: checkPrecision(opts.precision),
    maxPixels: checkInteger('maxPixels', opts.maxPixels, 1, MAX_PIXELS_LIMIT, DEFAULT_MAX_PIXELS),
    cpuIsa: checkCpuIsa(opts.cpuIsa),
    cpuWinograd: checkCpuWinograd(opts.cpuWinograd),
    cpuKernel: checkCpuKernel(opts.cpuKernel).value,
    cudaExactKernel: checkCudaExactKernel(opts.cudaExactKernel).value,
    cudaFastKernel: checkCudaFastKernel(opts.cudaFastKernel).value,
    cudaLevelCounts: checkCudaLevelCounts(opts.cudaLevelCounts).value,
  };
}

/** Validates the per-call options of enhance(). */
export function checkEnhanceOptions(options: unknown) {
  const opts = checkOptionKeys('enhance', options, ENHANCE_KEYS);
  return { ...checkImageOptions(opts), signal: checkSignal(opts.signal) };
}

async function resolveWeights(source: WeightsSource | undefined): Promise<FlwnetWeights> {
  const chosen = source ?? process.env.FLWNET_WEIGHTS;
  if (chosen === undefined || chosen === '') {
    if (defaultWeightsAvailable()) return loadDefaultWeights();
    throw new WeightsError(
      `no weights given and the package's default weights (${DEFAULT_WEIGHTS_PATH}) are missing: pass { weights: "path/to/weights.safetensors" } (or a .pth) or set FLWNET_WEIGHTS`,
    );
  }
  if (typeof chosen !== 'string' && !(chosen instanceof Uint8Array) && !(chosen instanceof FlwnetWeights)) {
    throw new InvalidOptionError('weights must be a path, a Buffer/Uint8Array holding a checkpoint, or loaded weights');
  }
  return loadWeights(chosen);
}

interface EngineSettings {
  threads: number;
  precision: PrecisionOption;
  cudnn: boolean;
  maxPixels: number;
  cpuIsa: CpuIsaOption;
  cpuWinograd: boolean;
  cpuKernel: CpuKernelOption;
  cudaExactKernel: CudaExactKernelOption;
  cudaFastKernel: CudaFastKernelOption;
  cudaLevelCounts: CudaLevelCountsOption;
}

/** Opens the native engine on the chosen device; 'auto' falls back to the CPU when the GPU fails to open. */
async function openEngine(device: DeviceOption, packed: Float32Array, settings: EngineSettings): Promise<NativeEngine> {
  const native = loadNative();
  const open = (choice: DeviceChoice) => new native.Engine(packed, { device: choice.kind, deviceIndex: choice.index, ...settings });
  // cuDNN is a GPU backend: 'auto' with it must find a GPU, and never runs on the CPU instead.
  const choice = chooseDevice(native, device, settings.cudnn);
  if (settings.cudnn) {
    try {
      return open(choice);
    } catch (err) {
      throw fromNativeError(err);
    }
  }
  return withCpuFallback(device, choice, 'running', open);
}
