/**
 * Batch enhancement: a bounded pipeline over any number of images. Reading, decoding (sharp, on
 * libuv threads), inference (the engine's scheduler) and encoding of different images overlap,
 * while at most `concurrency` items are between the source and the consumer at once: the source
 * is pulled only as the consumer takes results, so memory stays flat however long the source is.
 */
import { BatchRun } from './batch-run';
import type { FlwnetError } from './errors';
import { InvalidOptionError } from './errors';
import { checkImageOptions } from './formats';
import type { MetadataMode, RawImage } from './image-io';
import {
  checkInteger,
  checkOptionKeys,
  checkSignal,
  describe,
  type ExposureOption,
  type OutputFormat,
} from './options';
import type { OutputKind } from './scheduler';

export { BatchRun, type BatchRunEvents } from './batch-run';

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
  /** 'keep' (default): EXIF, ICC profile and XMP carried over; 'strip': none. */
  metadata?: MetadataMode;
  /** [r, g, b] that alpha is flattened onto for JPEG output. Default white. */
  background?: readonly [number, number, number];
  /** Yield results in input order (default false: as they finish). */
  ordered?: boolean;
  /** Items in flight between the source and the consumer. Default: 2 x the images the engine runs at once + 2. */
  concurrency?: number;
  /** Aborting stops pulling the source, cancels inference in flight and rejects the iteration with AbortError. */
  signal?: AbortSignal;
  /** Called after every finished item (the same object is emitted as a 'progress' event). */
  onProgress?: (progress: BatchProgress) => void;
}

export interface ResultOrigin {
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
  /** Frames enhanced (1 for a still image). */
  frames: number;
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
  /** Throws (ClosedError) once the engine no longer accepts calls, so later items are not decoded for nothing. */
  assertOpen(): void;
  infer(image: RawImage, exposure: ExposureOption, output: OutputKind, signal: AbortSignal): Promise<Uint8Array | Float32Array>;
}

export interface BatchSettings {
  exposure: ExposureOption;
  format?: OutputFormat;
  quality?: number;
  metadata: MetadataMode;
  background?: readonly [number, number, number];
  ordered: boolean;
  concurrency: number;
  signal?: AbortSignal;
  onProgress?: (progress: BatchProgress) => void;
}

const MANY_KEYS = ['exposure', 'format', 'quality', 'metadata', 'background', 'ordered', 'concurrency', 'signal', 'onProgress'] as const;

/** Validates enhanceMany's options; throws InvalidOptionError like every other entry point. */
export function checkManyOptions(options: unknown, engine: BatchEngine): BatchSettings {
  const opts = checkOptionKeys('enhanceMany', options, MANY_KEYS);
  const image = checkImageOptions(opts);
  if (opts.ordered !== undefined && typeof opts.ordered !== 'boolean') {
    throw new InvalidOptionError(`ordered must be a boolean, got ${describe(opts.ordered)}`);
  }
  if (opts.onProgress !== undefined && typeof opts.onProgress !== 'function') {
    throw new InvalidOptionError(`onProgress must be a function, got ${describe(opts.onProgress)}`);
  }
  return {
    ...image,
    ordered: opts.ordered === true,
    concurrency: checkInteger('concurrency', opts.concurrency, 1, 4096, 2 * Math.max(1, engine.nativeSlots) + 2),
    signal: checkSignal(opts.signal),
    onProgress: opts.onProgress as BatchSettings['onProgress'],
  };
}

/** Starts a batch over `source` on `engine` (Enhancer.enhanceMany calls this). */
export function enhanceMany(engine: BatchEngine, source: BatchSource, options?: EnhanceManyOptions): BatchRun {
  const settings = checkManyOptions(options, engine);
  return new BatchRun(engine, source, settings);
}
