/**
 * One running batch (see lib/batch.ts): an async iterator of results and an EventEmitter of typed
 * 'progress' events. The source is pulled only while the window has room, so memory stays flat.
 */
import { EventEmitter, setMaxListeners } from 'node:events';
import fs from 'node:fs/promises';
import type { BatchEngine, BatchProgress, BatchResult, BatchSettings, ResultOrigin } from './batch';
import { publicCall } from './call-site';
import { enhanceEncoded } from './enhance-image';
import { fromNativeError, FlwnetError, InvalidInputError, InvalidOptionError } from './errors';
import { takesQuality } from './formats';
import type { RawImage } from './image-io';
import { checkFormat, describe, isPlainObject, type OutputFormat } from './options';
import { abortReason, type OutputKind } from './scheduler';

/** The events a BatchRun emits, with their listeners' signatures. */
export interface BatchRunEvents {
  /** After every finished item, successful or not. */
  progress: (progress: BatchProgress) => void;
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

/** `{ id }` of an item object whose id is a string or a number, else nothing. */
function idOf(value: unknown): { id?: string | number } {
  if (!isPlainObject(value)) return {};
  const { id } = value;
  return typeof id === 'string' || typeof id === 'number' ? { id } : {};
}

function asFlwnetError(err: unknown): FlwnetError {
  return err instanceof FlwnetError ? err : fromNativeError(err);
}

/** Typed listeners for the events of BatchRunEvents (merged into the class below). */
export declare interface BatchRun {
  on<E extends keyof BatchRunEvents>(event: E, listener: BatchRunEvents[E]): this;
  once<E extends keyof BatchRunEvents>(event: E, listener: BatchRunEvents[E]): this;
  off<E extends keyof BatchRunEvents>(event: E, listener: BatchRunEvents[E]): this;
  emit<E extends keyof BatchRunEvents>(event: E, ...args: Parameters<BatchRunEvents[E]>): boolean;
}

/**
 * One running batch: an async iterator of results, and an EventEmitter of 'progress' events.
 * Nothing is read before the first `next()`.
 */
export class BatchRun extends EventEmitter implements AsyncIterableIterator<BatchResult> {
  private readonly controller = new AbortController();
  private readonly source: {
    readonly items: AnySource;
    /** Known when the source is an array. */
    readonly total?: number;
    iterator?: Iterator<unknown> | AsyncIterator<unknown>;
    pulled: number;
    pulling: boolean;
    done: boolean;
    error?: unknown;
  };
  /** Items between the source and the consumer: the bound the window keeps. */
  private readonly window = {
    /** Items pulled from the source (or being pulled) and not yet given back by the consumer. */
    inFlight: 0,
    /** Results handed to the consumer; a slot is freed when the consumer asks for the next one. */
    lent: 0,
  };
  /** Finished results not yet handed out: by index when ordered, in finishing order otherwise. */
  private readonly results = { ready: new Map<number, BatchResult>(), nextOrdered: 0, waiters: [] as Waiter[] };
  private readonly stats = { startTime: 0, done: 0, succeeded: 0, failed: 0, megapixels: 0 };
  /** Set once the batch has stopped early: an AbortError, or null after return(). */
  private stopped?: unknown;
  private readonly onAbort = () => this.stop(abortReason(this.settings.signal as AbortSignal));

  constructor(
    private readonly engine: BatchEngine,
    source: unknown,
    private readonly settings: BatchSettings,
  ) {
    super();
    if (typeof engine?.infer !== 'function' || !isPlainObject(settings)) {
      throw new InvalidOptionError('new BatchRun() is not supported: start a batch with enhancer.enhanceMany(source, options)');
    }
    // Every item in flight listens on the internal signal (inference, file reads): a wide window
    // is expected to exceed Node's default of 10 listeners, and that is no leak.
    setMaxListeners(2 * settings.concurrency + 10, this.controller.signal);
    this.source = {
      items: checkSource(source),
      ...(Array.isArray(source) ? { total: source.length } : {}),
      pulled: 0,
      pulling: false,
      done: false,
    };
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /** The progress so far. */
  get progress(): BatchProgress {
    const { startTime, done, succeeded, failed, megapixels } = this.stats;
    const elapsedSeconds = startTime === 0 ? 0 : (performance.now() - startTime) / 1000;
    return {
      done,
      succeeded,
      failed,
      ...(this.source.total === undefined ? {} : { total: this.source.total }),
      mpixPerSecond: elapsedSeconds > 0 ? megapixels / elapsedSeconds : 0,
      elapsedSeconds,
    };
  }

  next(): Promise<IteratorResult<BatchResult>> {
    return publicCall(() => this.nextResult());
  }

  private nextResult(): Promise<IteratorResult<BatchResult>> {
    this.start(); // may stop the batch at once, when the signal is already aborted
    if (this.stopped !== undefined) {
      return this.stopped === null ? Promise.resolve({ done: true, value: undefined }) : Promise.reject(this.stopped);
    }
    if (this.window.lent > 0) {
      // The consumer is back for more: the result it took no longer occupies the window.
      this.window.lent -= 1;
      this.window.inFlight -= 1;
    }
    const promise = new Promise<IteratorResult<BatchResult>>((resolve, reject) => this.results.waiters.push({ resolve, reject }));
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
    if (this.source.iterator || this.stopped !== undefined) return;
    this.stats.startTime = performance.now();
    this.source.iterator = openSource(this.source.items);
    const { signal } = this.settings;
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Pulls source items, one at a time, while the window has room. */
  private fill(): void {
    const source = this.source;
    if (source.pulling || source.done || this.stopped !== undefined || this.window.inFlight >= this.settings.concurrency) return;
    source.pulling = true;
    this.window.inFlight += 1; // the slot is taken before the source runs, so the bound holds at every pull
    this.pullOne().then(
      (step) => {
        source.pulling = false;
        if (this.stopped !== undefined) return;
        if (step.done) {
          this.window.inFlight -= 1;
          source.done = true;
          this.settle();
          return;
        }
        this.startItem(step.value, source.pulled++);
        this.fill();
      },
      (err: unknown) => {
        source.pulling = false;
        this.window.inFlight -= 1;
        source.done = true;
        source.error = err;
        this.settle();
      },
    );
  }

  private async pullOne(): Promise<IteratorResult<unknown>> {
    return (this.source.iterator as AsyncIterator<unknown>).next();
  }

  private startItem(value: unknown, index: number): void {
    void this.processItem(value, index).then((result) => {
      if (this.stopped !== undefined) return;
      this.record(result);
      if (this.stopped !== undefined) return;
      this.results.ready.set(result.index, result);
      this.settle();
    });
  }

  /** Read, decode, infer, encode; never rejects: a failure becomes the item's result. */
  private async processItem(value: unknown, index: number): Promise<BatchResult> {
    const started = performance.now();
    // The id is taken before the item is checked, so a failing item's result still carries it.
    let origin: ResultOrigin = { index, ...idOf(value) };
    try {
      const item = normaliseItem(value);
      origin = { index, ...(item.id === undefined ? {} : { id: item.id }), ...(item.path === undefined ? {} : { path: item.path }) };
      this.engine.assertOpen();
      const { exposure, metadata, background } = this.settings;
      const format = item.format ?? this.settings.format;
      // A per-item lossless format takes no quality: the batch's quality is for the lossy ones.
      const quality = format && !takesQuality(format) ? undefined : this.settings.quality;
      const signal = this.controller.signal;
      const infer = (frame: RawImage, kind: OutputKind) => this.engine.infer(frame, exposure, kind, signal);
      const bytes = await this.readBytes(item);
      const result = await enhanceEncoded(bytes, this.engine.maxPixels, { format, quality, metadata, background }, infer);
      const seconds = (performance.now() - started) / 1000;
      return { ...origin, ok: true, ...result, seconds };
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
      this.stats.megapixels += (result.width * result.height * result.frames) / 1e6;
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
    const { waiters } = this.results;
    while (waiters.length > 0 && this.stopped === undefined) {
      const result = this.takeReady();
      if (result) {
        this.window.lent += 1;
        (waiters.shift() as Waiter).resolve({ done: false, value: result });
        continue;
      }
      if (!this.source.done || this.window.inFlight > this.window.lent || this.source.pulling) return;
      this.finish();
    }
  }

  private takeReady(): BatchResult | undefined {
    const { ready } = this.results;
    if (this.settings.ordered) {
      const result = ready.get(this.results.nextOrdered);
      if (result) {
        ready.delete(this.results.nextOrdered);
        this.results.nextOrdered += 1;
      }
      return result;
    }
    const first = ready.entries().next();
    if (first.done) return undefined;
    ready.delete(first.value[0]);
    return first.value[1];
  }

  /** Every item is out: end the iteration (with the source's own error, if it threw). */
  private finish(): void {
    this.detachSignal();
    const error = this.source.error;
    this.stopped = error === undefined ? null : error;
    for (const waiter of this.results.waiters.splice(0)) {
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
    this.results.ready.clear();
    const iterator = this.source.iterator;
    if (iterator && typeof iterator.return === 'function') {
      // Let generators run their cleanup; the source's own failure to close is of no further use.
      Promise.resolve()
        .then(() => (iterator.return as () => unknown)())
        .catch(() => undefined);
    }
    for (const waiter of this.results.waiters.splice(0)) {
      if (reason === null) waiter.resolve({ done: true, value: undefined });
      else waiter.reject(reason);
    }
  }

  private detachSignal(): void {
    this.settings.signal?.removeEventListener('abort', this.onAbort);
  }
}
