/**
 * Batch enhancement: a bounded pipeline over any number of images. Reading, decoding (sharp, on
 * libuv threads), inference (the engine's scheduler) and encoding of different images overlap,
 * while at most `concurrency` items are between the source and the consumer at once: the source
 * is pulled only as the consumer takes results, so memory stays flat however long the source is.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import { fromNativeError, FlwnetError, InvalidInputError, InvalidOptionError } from './errors';
import { decodeImage, encodeImage, outputFormatFor, type DecodedImage } from './image-io';
import {
  checkExposure,
  checkFormat,
  checkInteger,
  checkOptionKeys,
  checkSignal,
  describe,
  isPlainObject,
  type ExposureOption,
  type OutputFormat,
} from './options';
import { abortReason } from './scheduler';

/** Encoded image bytes, or the path of an image file. */
export type BatchInput = Uint8Array | string;

export interface BatchItem {
  input: BatchInput;
  /** Echoed in the item's result, to match results to inputs when they arrive out of order. */
  id?: string | number;
  /** This item's output format, overriding the batch's `format`. */
  format?: OutputFormat | 'jpg';
}

export type BatchSource = Iterable<BatchInput | BatchItem> | AsyncIterable<BatchInput | BatchItem>;

export interface BatchProgress {
  /** Items finished, successfully or not. */
  done: number;
  succeeded: number;
  failed: number;
  /** Known when the source is an array. */
  total?: number;
  /** Input megapixels enhanced per second of wall time since the batch started. */
  mpixPerSecond: number;
  elapsedSeconds: number;
}

export interface EnhanceManyOptions {
  /** Target mean brightness in [0, 1], or 'auto' (predicted per image). Default 0.4. */
  exposure?: ExposureOption;
  /** Output format for every item; default: each input's own (PNG where sharp cannot write it). */
  format?: OutputFormat | 'jpg';
  /** Encoder quality 1..100, applied to jpeg, webp, avif and tiff outputs. */
  quality?: number;
  /** Yield results in input order (default false: as they finish). */
  ordered?: boolean;
  /** Items in flight between the source and the consumer. Default: 2 x the images the engine runs at once + 2. */
  concurrency?: number;
  /** Aborting stops pulling the source, cancels inference in flight and rejects the iteration with AbortError. */
  signal?: AbortSignal;
  /** Called after every finished item (the same object is emitted as a 'progress' event). */
  onProgress?: (progress: BatchProgress) => void;
}

interface ResultOrigin {
  index: number;
  id?: string | number;
  /** The input file, for items given as paths. */
  path?: string;
}

export interface BatchSuccess extends ResultOrigin {
  ok: true;
  /** The encoded output image. */
  data: Buffer;
  width: number;
  height: number;
  format: OutputFormat;
  /** Seconds from taking the item from the source to its encoded output. */
  seconds: number;
}

export interface BatchFailure extends ResultOrigin {
  ok: false;
  error: FlwnetError;
}

export type BatchResult = BatchSuccess | BatchFailure;

/** What a batch needs from the Enhancer that runs it. */
export interface BatchEngine {
  maxPixels: number;
  /** Images the engine works on at once (parallel requests x batch size); the default window is derived from it. */
  nativeSlots: number;
  infer(image: DecodedImage, exposure: ExposureOption, signal: AbortSignal): Promise<Uint8Array>;
}

interface BatchSettings {
  exposure: ExposureOption;
  format?: OutputFormat;
  quality?: number;
  ordered: boolean;
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (progress: BatchProgress) => void;
}

interface NormalisedItem {
  path?: string;
  bytes?: Uint8Array;
  id?: string | number;
  format?: OutputFormat;
}

interface Waiter {
  resolve(result: IteratorResult<BatchResult>): void;
  reject(error: unknown): void;
}

const MANY_KEYS = ['exposure', 'format', 'quality', 'ordered', 'concurrency', 'signal', 'onProgress'] as const;
const LOSSLESS_FORMATS: ReadonlySet<OutputFormat> = new Set<OutputFormat>(['png', 'gif']);

/** Validates enhanceMany's options; throws InvalidOptionError like every other entry point. */
export function checkManyOptions(options: unknown, engine: BatchEngine): BatchSettings {
  const opts = checkOptionKeys('enhanceMany', options, MANY_KEYS);
  const format = checkFormat(opts.format);
  const quality = checkInteger('quality', opts.quality, 1, 100, -1);
  if (quality >= 0 && format && LOSSLESS_FORMATS.has(format)) {
    throw new InvalidOptionError(`quality does not apply to ${format} output`);
  }
  if (opts.ordered !== undefined && typeof opts.ordered !== 'boolean') {
    throw new InvalidOptionError(`ordered must be a boolean, got ${describe(opts.ordered)}`);
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
    throw new InvalidOptionError(`onProgress must be a function, got ${describe(opts.onProgress)}`);
  }
  return {
    exposure: checkExposure(opts.exposure),
    format,
    quality: quality < 0 ? undefined : quality,
    ordered: opts.ordered === true,
    concurrency: checkInteger('concurrency', opts.concurrency, 1, 4096, 2 * Math.max(1, engine.nativeSlots) + 2),
    signal: checkSignal(opts.signal),
    onProgress: opts.onProgress as BatchSettings['onProgress'],
  };
}

type AnySource = Partial<AsyncIterable<unknown> & Iterable<unknown>>;

/** Throws unless `source` can be iterated (a lone string or buffer is refused: it is one item, not a list). */
function checkSource(source: unknown): AnySource {
  const candidate = source as AnySource | null | undefined;
  const iterable =
    candidate != null &&
    typeof candidate !== 'string' &&
    !(candidate instanceof Uint8Array) &&
    (typeof candidate[Symbol.asyncIterator] === 'function' || typeof candidate[Symbol.iterator] === 'function');
  if (!iterable) {
    throw new InvalidInputError(
      `enhanceMany: source must be an iterable or async iterable of Buffers, file paths or { input, id } items, got ${describe(source)}`,
    );
  }
  return candidate;
}

function openSource(source: AnySource): Iterator<unknown> | AsyncIterator<unknown> {
  const asyncIterate = source[Symbol.asyncIterator];
  if (typeof asyncIterate === 'function') return asyncIterate.call(source);
  return (source[Symbol.iterator] as () => Iterator<unknown>).call(source);
}

function normaliseItem(value: unknown): NormalisedItem {
  if (typeof value === 'string') return { path: value };
  if (value instanceof Uint8Array) return { bytes: value };
  if (isPlainObject(value)) {
    const { input, id, format } = value;
    if (id !== undefined && typeof id !== 'string' && typeof id !== 'number') {
      throw new InvalidInputError(`item id must be a string or a number, got ${describe(id)}`);
    }
    const base = normaliseInput(input);
    return { ...base, id: id as string | number | undefined, format: checkFormat(format) };
  }
  throw new InvalidInputError(`batch item must be a Buffer, a file path or { input, id }, got ${describe(value)}`);
}

function normaliseInput(input: unknown): NormalisedItem {
  if (typeof input === 'string') return { path: input };
  if (input instanceof Uint8Array) return { bytes: input };
  throw new InvalidInputError(`item input must be a Buffer/Uint8Array or a file path, got ${describe(input)}`);
}

function asFlwnetError(err: unknown): FlwnetError {
  return err instanceof FlwnetError ? err : fromNativeError(err);
}

/**
 * One running batch: an async iterator of results, and an EventEmitter of 'progress' events.
 * Nothing is read before the first `next()`.
 */
export class BatchRun extends EventEmitter implements AsyncIterableIterator<BatchResult> {
  private iterator?: Iterator<unknown> | AsyncIterator<unknown>;
  private readonly controller = new AbortController();
  private readonly waiters: Waiter[] = [];
  /** Finished results not yet handed out: by index when ordered, in finishing order otherwise. */
  private readonly ready = new Map<number, BatchResult>();
  private nextOrdered = 0;
  /** Items pulled from the source (or being pulled) and not yet given back by the consumer. */
  private inWindow = 0;
  /** Results handed to the consumer; a slot is freed when the consumer asks for the next one. */
  private lent = 0;
  private pulled = 0;
  private pulling = false;
  private sourceDone = false;
  private sourceError?: unknown;
  /** Set once the batch has stopped early: an AbortError, or null after return(). */
  private stopped?: unknown;
  private startTime = 0;
  private readonly stats = { done: 0, succeeded: 0, failed: 0, megapixels: 0 };
  private readonly total?: number;
  private readonly source: AnySource;
  private readonly onAbort = () => this.stop(abortReason(this.settings.signal as AbortSignal));

  constructor(
    private readonly engine: BatchEngine,
    source: unknown,
    private readonly settings: BatchSettings,
  ) {
    super();
    // Every item in flight listens on the internal signal (inference, file reads): a wide window
    // is expected to exceed Node's default of 10 listeners, and that is no leak.
    setMaxListeners(2 * settings.concurrency + 10, this.controller.signal);
    this.source = checkSource(source);
    this.total = Array.isArray(source) ? source.length : undefined;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The progress so far. */
  get progress(): BatchProgress {
    const elapsedSeconds = this.startTime === 0 ? 0 : (performance.now() - this.startTime) / 1000;
    return {
      done: this.stats.done,
      succeeded: this.stats.succeeded,
      failed: this.stats.failed,
      ...(this.total === undefined ? {} : { total: this.total }),
      mpixPerSecond: elapsedSeconds > 0 ? this.stats.megapixels / elapsedSeconds : 0,
      elapsedSeconds,
    };
  }

  next(): Promise<IteratorResult<BatchResult>> {
    this.start(); // may stop the batch at once, when the signal is already aborted
    if (this.stopped !== undefined) {
      return this.stopped === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(this.stopped);
    }
    if (this.lent > 0) {
      // The consumer is back for more: the result it took no longer occupies the window.
      this.lent -= 1;
      this.inWindow -= 1;
    }
    const promise = new Promise<IteratorResult<BatchResult>>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.fill();
    this.settle();
    return promise;
  }

  /** Stops early (a `break` out of for-await): stops pulling and cancels work in flight. */
  async return(): Promise<IteratorResult<BatchResult>> {
    this.stop(null);
    return { done: true, value: undefined };
  }

  private start(): void {
    if (this.iterator || this.stopped !== undefined) return;
    this.startTime = performance.now();
    this.iterator = openSource(this.source);
    const { signal } = this.settings;
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Pulls source items, one at a time, while the window has room. */
  private fill(): void {
    if (this.pulling || this.sourceDone || this.stopped !== undefined || this.inWindow >= this.settings.concurrency) return;
    this.pulling = true;
    this.inWindow += 1; // the slot is taken before the source runs, so the bound holds at every pull
    this.pullOne().then(
      (step) => {
        this.pulling = false;
        if (this.stopped !== undefined) return;
        if (step.done) {
          this.inWindow -= 1;
          this.sourceDone = true;
          this.settle();
          return;
        }
        this.startItem(step.value, this.pulled++);
        this.fill();
      },
      (err: unknown) => {
        this.pulling = false;
        this.inWindow -= 1;
        this.sourceDone = true;
        this.sourceError = err;
        this.settle();
      },
    );
  }

  private async pullOne(): Promise<IteratorResult<unknown>> {
    return (this.iterator as AsyncIterator<unknown>).next();
  }

  private startItem(value: unknown, index: number): void {
    void this.processItem(value, index).then((result) => {
      if (this.stopped !== undefined) return;
      this.record(result);
      if (this.stopped !== undefined) return;
      this.ready.set(result.index, result);
      this.settle();
    });
  }

  /** Read, decode, infer, encode; never rejects: a failure becomes the item's result. */
  private async processItem(value: unknown, index: number): Promise<BatchResult> {
    const started = performance.now();
    let origin: ResultOrigin = { index };
    try {
      const item = normaliseItem(value);
      origin = { index, ...(item.id === undefined ? {} : { id: item.id }), ...(item.path === undefined ? {} : { path: item.path }) };
      const decoded = await decodeImage(await this.readBytes(item), this.engine.maxPixels);
      const format = outputFormatFor(decoded.format, item.format ?? this.settings.format);
      const pixels = await this.engine.infer(decoded, this.settings.exposure, this.controller.signal);
      const { width, height, channels } = decoded;
      const quality = LOSSLESS_FORMATS.has(format) ? undefined : this.settings.quality;
      const data = await encodeImage({ data: pixels, width, height, channels }, format, quality);
      const seconds = (performance.now() - started) / 1000;
      return { ...origin, ok: true, data, width, height, format, seconds };
    } catch (err) {
      return { ...origin, ok: false, error: asFlwnetError(err) };
    }
  }

  private async readBytes(item: NormalisedItem): Promise<Uint8Array> {
    if (item.bytes) return item.bytes;
    try {
      return await fs.readFile(item.path as string, { signal: this.controller.signal });
    } catch (err) {
      throw new InvalidInputError(`cannot read ${JSON.stringify(item.path)}: ${(err as Error).message}`, { cause: err });
    }
  }

  private record(result: BatchResult): void {
    this.stats.done += 1;
    if (result.ok) {
      this.stats.succeeded += 1;
      this.stats.megapixels += (result.width * result.height) / 1e6;
    } else {
      this.stats.failed += 1;
    }
    const progress = this.progress;
    try {
      this.settings.onProgress?.(progress);
      this.emit('progress', progress);
    } catch (err) {
      // A throwing progress handler ends the batch with its error rather than going unheard.
      this.stop(err);
    }
  }

  /** Hands ready results to waiting consumers, and ends the iteration once everything is out. */
  private settle(): void {
    while (this.waiters.length > 0 && this.stopped === undefined) {
      const result = this.takeReady();
      if (result) {
        this.lent += 1;
        (this.waiters.shift() as Waiter).resolve({ done: false, value: result });
        continue;
      }
      if (!this.sourceDone || this.inWindow > this.lent || this.pulling) return;
      this.finish();
    }
  }

  private takeReady(): BatchResult | undefined {
    if (this.settings.ordered) {
      const result = this.ready.get(this.nextOrdered);
      if (result) {
        this.ready.delete(this.nextOrdered);
        this.nextOrdered += 1;
      }
      return result;
    }
    const first = this.ready.entries().next();
    if (first.done) return undefined;
    this.ready.delete(first.value[0]);
    return first.value[1];
  }

  /** Every item is out: end the iteration (with the source's own error, if it threw). */
  private finish(): void {
    this.detachSignal();
    const error = this.sourceError;
    this.stopped = error === undefined ? null : error;
    for (const waiter of this.waiters.splice(0)) {
      if (error === undefined) waiter.resolve({ done: true, value: undefined });
      else waiter.reject(error);
    }
  }

  /** Stops early: `reason` null for a consumer's return(), else the error the iteration rejects with. */
  private stop(reason: unknown): void {
    if (this.stopped !== undefined) return;
    this.stopped = reason;
    this.detachSignal();
    this.controller.abort(reason ?? undefined);
    this.ready.clear();
    const iterator = this.iterator;
    if (iterator && typeof iterator.return === 'function') {
      // Let generators run their cleanup; the source's own failure to close is of no further use.
      Promise.resolve()
        .then(() => (iterator.return as () => unknown)())
        .catch(() => undefined);
    }
    for (const waiter of this.waiters.splice(0)) {
      if (reason === null) waiter.resolve({ done: true, value: undefined });
      else waiter.reject(reason);
    }
  }

  private detachSignal(): void {
    this.settings.signal?.removeEventListener('abort', this.onAbort);
  }
}

/** Starts a batch over `source` on `engine` (Enhancer.enhanceMany calls this). */
export function enhanceMany(engine: BatchEngine, source: BatchSource, options?: EnhanceManyOptions): BatchRun {
  const settings = checkManyOptions(options, engine);
  return new BatchRun(engine, source, settings);
}
