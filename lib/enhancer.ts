/**
 * The public inference API: an Enhancer owns one native engine (CPU or GPU) and its queue.
 */
import { enhanceMany, type BatchRun, type BatchSource, type EnhanceManyOptions } from './batch';
import { ClosedError, DeviceError, fromNativeError, InvalidInputError, InvalidOptionError, WeightsError } from './errors';
import { decodeImage, encodeImage, outputFormatFor, type RawImage } from './image-io';
import { loadNative, type NativeEngine, type NativeImage, type NativeModule } from './native';
import {
  checkBackend,
  checkDevice,
  checkExposure,
  checkFormat,
  checkInteger,
  checkOptionKeys,
  checkPrecision,
  checkSignal,
  DEFAULT_EXPOSURE,
  DEFAULT_MAX_PIXELS,
  isPlainObject,
  MAX_PIXELS_LIMIT,
  type BackendOption,
  type DeviceOption,
  type ExposureOption,
  type OutputFormat,
  type PrecisionOption,
} from './options';
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
  /** Path or bytes of a .pth or .safetensors checkpoint, or loaded weights. Default: env FLWNET_WEIGHTS, else the package's own weights (MODEL.md). */
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
}

export interface EnhanceOptions {
  /** Target mean brightness in [0, 1], or 'auto': predicted from the image. Default 0.4. */
  exposure?: ExposureOption;
  /** Output format; default: the input's (PNG when sharp cannot write the input's format). */
  format?: OutputFormat | 'jpg';
  /** Encoder quality 1..100 for jpeg, webp, avif and tiff. */
  quality?: number;
  signal?: AbortSignal;
}

export interface RawInput {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
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
export const ENHANCER_KEYS: readonly string[] = ['weights', 'device', 'threads', 'precision', 'backend', 'maxPixels'];
export const ENHANCE_KEYS: readonly string[] = ['exposure', 'format', 'quality', 'signal'];
const RAW_KEYS = ['exposure', 'output', 'signal'] as const;

export class Enhancer {
  private closed = false;
  private readonly scheduler: Scheduler;
  private readonly pipelineSlots: Semaphore;

  private constructor(
    private readonly engine: NativeEngine,
    /** Which backend runs: 'cpu' or 'cuda:N'. */
    readonly device: string,
    /** A human description of the backend, e.g. "cpu (2 threads, avx512)". */
    readonly description: string,
    readonly maxPixels: number,
    readonly weights: FlwnetWeights,
    private readonly autoExposure: { predictor: ExposurePredictor; source: ExposurePredictorSource } | undefined,
  ) {
    const concurrency = Math.max(1, engine.maxConcurrentRequests);
    this.scheduler = new Scheduler(engine, concurrency, Math.max(1, engine.preferredBatch));
    // Decoded images waiting for inference are bounded: decode, infer and encode overlap, no more.
    this.pipelineSlots = new Semaphore(concurrency * 2 + 1);
  }

  static async create(options: EnhancerOptions = {}): Promise<Enhancer> {
    const opts = checkOptionKeys('Enhancer.create', options, ENHANCER_KEYS);
    const device = checkDevice(opts.device);
    const precision = checkPrecision(opts.precision);
    const backend = checkBackend(opts.backend);
    const threads = checkInteger('threads', opts.threads, 1, 1024, 0);
    const maxPixels = checkInteger('maxPixels', opts.maxPixels, 1, MAX_PIXELS_LIMIT, DEFAULT_MAX_PIXELS);
    if (backend === 'cudnn' && device === 'cpu') {
      throw new InvalidOptionError("backend 'cudnn' needs a GPU device ('cuda', 'cuda:N' or 'auto')");
    }
    const weights = await resolveWeights(opts.weights as WeightsSource | undefined);
    const native = loadNative();
    const packed = weights.packed();
    const common = { threads, precision, cudnn: backend === 'cudnn', maxPixels };
    const engine = openEngine(native, device, packed, common);
    const auto = await predictorFor(weights);
    return new Enhancer(engine, engine.deviceName, engine.description, maxPixels, weights, auto);
  }

  /** Enhances an encoded image (any format sharp reads) and returns it encoded. */
  async enhance(input: Uint8Array, options?: EnhanceOptions): Promise<Buffer> {
    const { exposure, format, quality, signal } = checkEnhanceOptions(options);
    this.assertOpen();
    const release = await this.pipelineSlots.acquire(signal);
    try {
      const decoded = await decodeImage(input, this.maxPixels);
      const target = await this.resolveExposure(decoded, exposure);
      const { data } = await this.scheduler.run(decoded, target, 'uint8', signal);
      const raw: RawImage = { data: data as Uint8Array, width: decoded.width, height: decoded.height, channels: decoded.channels };
      return await encodeImage(raw, outputFormatFor(decoded.format, format), quality);
    } finally {
      release();
    }
  }

  /** Enhances raw interleaved pixels; alpha (channels = 4) is passed through. */
  enhanceRaw(input: RawInput, options: EnhanceRawOptions & { output: 'float32' }): Promise<RawOutput<Float32Array>>;
  enhanceRaw(input: RawInput, options?: EnhanceRawOptions & { output?: 'uint8' }): Promise<RawOutput<Uint8Array>>;
  enhanceRaw(input: RawInput, options?: EnhanceRawOptions): Promise<RawOutput>;
  async enhanceRaw(input: RawInput, options?: EnhanceRawOptions): Promise<RawOutput> {
    const opts = checkOptionKeys('enhanceRaw', options, RAW_KEYS);
    const exposure = checkExposure(opts.exposure);
    const output = opts.output ?? 'uint8';
    if (output !== 'uint8' && output !== 'float32') {
      throw new InvalidOptionError(`output must be 'uint8' or 'float32', got ${JSON.stringify(output)}`);
    }
    const signal = checkSignal(opts.signal);
    const image = checkRawImage(input, this.maxPixels);
    this.assertOpen();
    const target = await this.resolveExposure(image, exposure);
    const { data } = await this.scheduler.run(image, target, output, signal);
    return { data, width: image.width, height: image.height, channels: image.channels };
  }

  /**
   * Enhances many images (Buffers, file paths or { input, id } items from an iterable or async
   * iterable) through a bounded pipeline; iterate the result with for-await. See lib/batch.ts.
   */
  enhanceMany(source: BatchSource, options?: EnhanceManyOptions): BatchRun {
    this.assertOpen();
    const engine = {
      maxPixels: this.maxPixels,
      nativeSlots: Math.max(1, this.engine.maxConcurrentRequests) * Math.max(1, this.engine.preferredBatch),
      infer: async (image: RawImage, exposure: ExposureOption, signal: AbortSignal) => {
        this.assertOpen();
        const target = await this.resolveExposure(image, exposure);
        return (await this.scheduler.run(image, target, 'uint8', signal)).data as Uint8Array;
      },
    };
    return enhanceMany(engine, source, options);
  }

  /** The global branch alone: the 15 features and 7 curve parameters for an image. */
  async inspect(input: RawInput | Uint8Array, options?: { exposure?: ExposureOption }): Promise<InspectResult> {
    const opts = checkOptionKeys('inspect', options, ['exposure']);
    const exposure = checkExposure(opts.exposure);
    const image = input instanceof Uint8Array ? await decodeImage(input, this.maxPixels) : checkRawImage(input, this.maxPixels);
    this.assertOpen();
    const target = await this.resolveExposure(image, exposure);
    const result = await this.globalBranch(image, target);
    const chosen = exposure === 'auto' ? { exposurePredictor: this.autoExposure!.source } : {};
    return { features: Array.from(result.features), curve: Array.from(result.curve), exposure: target, ...chosen };
  }

  /** Whether exposure 'auto' works with these weights, and whose predictor it uses. */
  get autoExposureSource(): ExposurePredictorSource | undefined {
    return this.autoExposure?.source;
  }

  private async globalBranch(image: NativeImage, exposure: number) {
    return this.engine.inspect(image, exposure).catch((err: unknown) => {
      throw fromNativeError(err);
    });
  }

  /** A number as it is; 'auto' from the image's global features through the exposure predictor. */
  private async resolveExposure(image: NativeImage, exposure: ExposureOption): Promise<number> {
    if (exposure !== 'auto') return exposure;
    if (!this.autoExposure) throw noPredictorError(this.weights);
    const { features } = await this.globalBranch(image, DEFAULT_EXPOSURE);
    return this.autoExposure.predictor.predict(features);
  }

  /** Requests queued or running. */
  get pending(): number {
    return this.scheduler.pending;
  }

  /** Rejects queued requests, lets running ones finish, and releases the engine. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.rejectQueued(new ClosedError());
    this.engine.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new ClosedError();
  }
}

/** Validates the per-call options of enhance(). */
export function checkEnhanceOptions(options: unknown) {
  const opts = checkOptionKeys('enhance', options, ENHANCE_KEYS);
  const quality = checkInteger('quality', opts.quality, 1, 100, -1);
  return {
    exposure: checkExposure(opts.exposure),
    format: checkFormat(opts.format),
    quality: quality < 0 ? undefined : quality,
    signal: checkSignal(opts.signal),
  };
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
}

function openEngine(native: NativeModule, device: DeviceOption, packed: Float32Array, settings: EngineSettings): NativeEngine {
  const open = (kind: 'cpu' | 'cuda', deviceIndex = 0) => {
    try {
      return new native.Engine(packed, { device: kind, deviceIndex, ...settings });
    } catch (err) {
      throw fromNativeError(err);
    }
  };
  if (device === 'cpu') return open('cpu');
  if (device === 'auto') {
    if (!settings.cudnn && !usableCudaDevices(native).length) return open('cpu');
    try {
      return open('cuda', 0);
    } catch (err) {
      if (settings.cudnn) throw err;
      process.emitWarning(`flwnet: the GPU is not usable (${(err as Error).message}); running on the CPU`, 'FlwnetWarning');
      return open('cpu');
    }
  }
  const index = device === 'cuda' ? 0 : Number(device.slice(5));
  const devices = usableCudaDevices(native, true);
  if (index >= devices.length) {
    throw new DeviceError(`${device} does not exist: ${devices.length} CUDA device(s) found`);
  }
  return open('cuda', index);
}

/** The CUDA devices the addon sees; with `strict`, a DeviceError says why there are none. */
function usableCudaDevices(native: NativeModule, strict = false) {
  if (!native.cudaCompiled) {
    if (!strict) return [];
    throw new DeviceError('this flwnet build has no CUDA support; rebuild with a CUDA toolkit (FLWNET_CUDA=ON npm rebuild)');
  }
  const info = native.cudaInfo();
  if (strict && info.devices.length === 0) {
    throw new DeviceError(`no usable CUDA device${info.error ? `: ${info.error}` : ''}`);
  }
  return info.devices;
}

function checkRawImage(input: unknown, maxPixels: number): NativeImage {
  if (!isPlainObject(input)) throw new InvalidInputError('raw input must be an object { data, width, height, channels }');
  const { data, width, height, channels } = input as Record<string, unknown>;
  if (!(data instanceof Uint8Array)) throw new InvalidInputError('raw input data must be a Uint8Array');
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1 << 20) {
      throw new InvalidInputError(`raw input ${name} must be an integer in [1, 1048576], got ${String(value)}`);
    }
  }
  if (channels !== 3 && channels !== 4) throw new InvalidInputError(`raw input channels must be 3 or 4, got ${String(channels)}`);
  const w = width as number;
  const h = height as number;
  if (w * h > maxPixels) {
    throw new InvalidInputError(`raw input is ${w} x ${h} = ${w * h} pixels, over the limit of ${maxPixels} (raise it with maxPixels)`);
  }
  if (data.length !== w * h * channels) {
    throw new InvalidInputError(`raw input data holds ${data.length} bytes but ${w} x ${h} x ${channels} = ${w * h * channels} are needed`);
  }
  return { data, width: w, height: h, channels };
}
