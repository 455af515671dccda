/**
 * Training data: images decoded once with sharp and kept in memory (in SharedArrayBuffers, so the
 * batch worker reads them without a copy), a seeded split into training and validation images,
 * and batches of equal-size random crops with flips.
 *
 * A batch is a pure function of (data, spec, batch index): item j of batch k draws from
 * Rng.derive(seed, k, j). A resumed run therefore sees exactly the batches an uninterrupted one
 * would, and batches can be made ahead of time in a worker without changing the result.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { pairFiles } from '../pairs';
import { IMAGE_EXTENSIONS, isImageFile } from '../formats';
import { FlwnetError, InvalidInputError, InvalidOptionError } from '../errors';
import { checkDegradationModel, degrade, sampleDegradation, type DegradationModel } from './degrade';
import type { TrainExample } from './native-trainer';
import { checkSeed, Rng } from './rng';

/** One training image: a well-exposed photo (`low` absent: degraded on the fly) or a real pair. */
export interface TrainingImage {
  name: string;
  width: number;
  height: number;
  /** RGB, 8 bits, row-major. */
  high: Uint8Array;
  low?: Uint8Array;
}

export interface TrainingSet {
  kind: 'photos' | 'pairs';
  images: TrainingImage[];
  /** Each source file and the SHA-256 of its bytes, sorted by name. */
  files: Array<{ file: string; sha256: string }>;
  /** SHA-256 over `files` and the decoding settings: identifies the data a run was trained on. */
  hash: string;
}

export interface LoadOptions {
  /** Downscale so the longer side is at most this many pixels (never enlarged). Default 1024. */
  maxSide?: number;
}

export type Flips = 'none' | 'horizontal' | 'both';

export interface BatchSpec {
  seed: number;
  /** Examples per batch. */
  batch: number;
  /** Square crop side in pixels. */
  crop: number;
  flips: Flips;
  /** For photo sets: how low frames are synthesised. */
  degradation: DegradationModel;
}

/** Stream ids outside the range of batch indices. */
const SPLIT_STREAM = 2 ** 52;
const VALIDATION_STREAM = 2 ** 52 + 1;

export const DEFAULT_MAX_SIDE = 1024;

function checkMaxSide(value: unknown): number {
  if (value === undefined) return DEFAULT_MAX_SIDE;
  if (!Number.isInteger(value) || (value as number) < 16 || (value as number) > 16384) {
    throw new InvalidOptionError(`maxSide must be an integer in [16, 16384], got ${String(value)}`);
  }
  return value as number;
}

async function listImageFiles(dir: string, role: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InvalidInputError(`cannot read the ${role} directory ${dir}: ${code === 'ENOENT' ? 'it does not exist' : code === 'ENOTDIR' ? 'not a directory' : (err as Error).message}`, { cause: err });
  }
  const files = entries
    .filter((e) => (e.isFile() || e.isSymbolicLink()) && !e.name.startsWith('.') && isImageFile(e.name))
    .map((e) => path.join(dir, e.name))
    .sort();
  if (files.length === 0) throw new InvalidInputError(`the ${role} directory ${dir} holds no images (${[...IMAGE_EXTENSIONS].join(' ')})`);
  return files;
}

interface Decoded {
  data: Uint8Array;
  width: number;
  height: number;
  sha256: string;
}

/** Decodes upright sRGB RGB into shared memory, downscaled to fit `size` (or exactly `size` for a pair's low image). */
async function decodeFile(file: string, fit: { maxSide: number } | { width: number; height: number }): Promise<Decoded> {
  let bytes: Buffer;
  try {
    bytes = await fs.readFile(file);
  } catch (err) {
    throw new InvalidInputError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    let pipeline = sharp(bytes, { failOn: 'error', limitInputPixels: 2 ** 28 }).rotate().toColourspace('srgb').removeAlpha();
    pipeline = 'maxSide' in fit
      ? pipeline.resize({ width: fit.maxSide, height: fit.maxSide, fit: 'inside', withoutEnlargement: true })
      : pipeline.resize({ width: fit.width, height: fit.height, fit: 'fill' });
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels, expected 3`);
    const shared = new Uint8Array(new SharedArrayBuffer(data.length));
    shared.set(data);
    return { data: shared, width: info.width, height: info.height, sha256: createHash('sha256').update(bytes).digest('hex') };
  } catch (err) {
    throw new InvalidInputError(`${file} is not a readable image: ${(err as Error).message}`, { cause: err });
  }
}

async function originalSize(file: string): Promise<[number, number]> {
  try {
    const m = await sharp(file).metadata();
    const turned = (m.orientation ?? 1) >= 5;
    return turned ? [m.height ?? 0, m.width ?? 0] : [m.width ?? 0, m.height ?? 0];
  } catch (err) {
    throw new InvalidInputError(`${file} is not a readable image: ${(err as Error).message}`, { cause: err });
  }
}

function setHash(kind: string, files: TrainingSet['files'], maxSide: number): string {
  const h = createHash('sha256').update(`${kind}\nmaxSide=${maxSide}\n`);
  for (const f of files) h.update(`${path.basename(f.file)}\t${f.sha256}\n`);
  return h.digest('hex');
}

/** Runs `work` over `items` with at most `limit` in flight (decoding a dozen large JPEGs at once would spike memory). */
async function mapLimited<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await work(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  return out;
}

/** Well-exposed photos from `dir`, for synthetic pairs. */
export async function loadPhotoSet(dir: string, options: LoadOptions = {}): Promise<TrainingSet> {
  const maxSide = checkMaxSide(options.maxSide);
  const files = await listImageFiles(dir, 'photos');
  const decoded = await mapLimited(files, 2, (file) => decodeFile(file, { maxSide }));
  const images = decoded.map((d, i) => ({ name: path.basename(files[i], path.extname(files[i])), width: d.width, height: d.height, high: d.data }));
  const list = decoded.map((d, i) => ({ file: files[i], sha256: d.sha256 }));
  return { kind: 'photos', images, files: list, hash: setHash('photos', list, maxSide) };
}

/** Real pairs: files of `lowDir` and `highDir` paired by base name, as `flwnet eval` pairs them. */
export async function loadPairSet(lowDir: string, highDir: string, options: LoadOptions = {}): Promise<TrainingSet> {
  const maxSide = checkMaxSide(options.maxSide);
  const [lows, highs] = await Promise.all([listImageFiles(lowDir, 'low'), listImageFiles(highDir, 'high')]);
  const { pairs, unpaired } = pairFiles(lows, highs);
  if (unpaired.length > 0) {
    const shown = unpaired.slice(0, 5).join(', ');
    throw new InvalidInputError(`${unpaired.length} file(s) have no partner of the same name: ${shown}${unpaired.length > 5 ? ', ...' : ''}`);
  }
  const images = await mapLimited(pairs, 2, async (pair) => {
    const [lowSize, highSize] = await Promise.all([originalSize(pair.input), originalSize(pair.reference)]);
    if (lowSize[0] !== highSize[0] || lowSize[1] !== highSize[1]) {
      throw new InvalidInputError(`pair ${pair.name}: ${pair.input} is ${lowSize.join(' x ')} but ${pair.reference} is ${highSize.join(' x ')}`);
    }
    const high = await decodeFile(pair.reference, { maxSide });
    const low = await decodeFile(pair.input, { width: high.width, height: high.height });
    return { name: pair.name, width: high.width, height: high.height, high: high.data, low: low.data, hashes: [low.sha256, high.sha256] };
  });
  const list = images.flatMap((im, i) => [
    { file: pairs[i].input, sha256: im.hashes[0] },
    { file: pairs[i].reference, sha256: im.hashes[1] },
  ]);
  const clean = images.map(({ hashes: _hashes, ...image }) => image);
  return { kind: 'pairs', images: clean, files: list, hash: setHash('pairs', list, maxSide) };
}

/**
 * Holds out a seeded `fraction` of the images (at least one when there are two or more and
 * fraction > 0). The training set keeps its hash: it names the files, the split is in the options.
 */
export function splitSet(set: TrainingSet, fraction: number, seed: number): { train: TrainingSet; validation: TrainingImage[] } {
  if (typeof fraction !== 'number' || !Number.isFinite(fraction) || fraction < 0 || fraction >= 1) {
    throw new InvalidOptionError(`the validation fraction must be a number in [0, 1), got ${String(fraction)}`);
  }
  const n = set.images.length;
  const count = fraction === 0 || n < 2 ? 0 : Math.min(n - 1, Math.max(1, Math.round(fraction * n)));
  const order = set.images.map((_, i) => i);
  const rng = Rng.derive(checkSeed(seed), SPLIT_STREAM);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const held = new Set(order.slice(0, count));
  return {
    train: { ...set, images: set.images.filter((_, i) => !held.has(i)) },
    validation: set.images.filter((_, i) => held.has(i)),
  };
}

export interface ValidationPair {
  name: string;
  low: TrainExample['low'];
  high: TrainExample['high'];
}

/** Validation pairs: real pairs as they are; photos degraded once, with draws fixed by the seed. */
export async function validationPairs(images: TrainingImage[], model: DegradationModel, seed: number): Promise<ValidationPair[]> {
  return Promise.all(
    images.map(async (image, i) => {
      const size = { width: image.width, height: image.height, channels: 3 as const };
      let low = image.low;
      if (!low) {
        const rng = Rng.derive(seed, VALIDATION_STREAM, i);
        low = await degrade(image.high, image.width, image.height, sampleDegradation(model, rng), rng);
      }
      // Copies into ordinary memory: the native engine does not take SharedArrayBuffer views.
      return { name: image.name, low: { ...size, data: new Uint8Array(low) }, high: { ...size, data: new Uint8Array(image.high) } };
    }),
  );
}

export function checkBatchSpec(spec: Partial<Omit<BatchSpec, 'degradation'>> & { degradation?: Partial<DegradationModel> }, set?: TrainingSet): BatchSpec {
  const checkInt = (name: string, value: unknown, min: number, max: number) => {
    if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
      throw new InvalidOptionError(`${name} must be an integer in [${min}, ${max}], got ${String(value)}`);
    }
    return value as number;
  };
  const batch = checkInt('batch', spec.batch, 1, 4096);
  const crop = checkInt('crop', spec.crop, 20, 4096);
  const flips = spec.flips ?? 'both';
  if (flips !== 'none' && flips !== 'horizontal' && flips !== 'both') throw new InvalidOptionError(`flips must be 'none', 'horizontal' or 'both', got ${String(flips)}`);
  if (set) {
    if (set.images.length === 0) throw new InvalidInputError('there are no training images');
    const small = set.images.find((im) => im.width < crop || im.height < crop);
    if (small) throw new InvalidOptionError(`crop ${crop} is larger than ${small.name} (${small.width} x ${small.height} after downscaling); use a smaller --crop or a larger --max-side`);
  }
  return { seed: checkSeed(spec.seed), batch, crop, flips, degradation: checkDegradationModel(spec.degradation ?? {}) };
}

/** A square crop of an interleaved RGB image, flipped as asked. */
export function cropImage(src: Uint8Array, width: number, x0: number, y0: number, size: number, flipX: boolean, flipY: boolean): Uint8Array {
  const out = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    const sy = y0 + (flipY ? size - 1 - y : y);
    for (let x = 0; x < size; x++) {
      const sx = x0 + (flipX ? size - 1 - x : x);
      const s = (sy * width + sx) * 3;
      const d = (y * size + x) * 3;
      out[d] = src[s];
      out[d + 1] = src[s + 1];
      out[d + 2] = src[s + 2];
    }
  }
  return out;
}

/** Batch number `index` (0-based) for `spec`: the same for the same data, spec and index. */
export async function makeBatch(images: TrainingImage[], spec: BatchSpec, index: number): Promise<TrainExample[]> {
  const examples: TrainExample[] = [];
  for (let j = 0; j < spec.batch; j++) {
    const rng = Rng.derive(spec.seed, index, j);
    const image = images[rng.int(images.length)];
    const x0 = rng.int(image.width - spec.crop + 1);
    const y0 = rng.int(image.height - spec.crop + 1);
    const flipX = spec.flips !== 'none' && rng.bool();
    const flipY = spec.flips === 'both' && rng.bool();
    const high = cropImage(image.high, image.width, x0, y0, spec.crop, flipX, flipY);
    const low = image.low
      ? cropImage(image.low, image.width, x0, y0, spec.crop, flipX, flipY)
      : await degrade(high, spec.crop, spec.crop, sampleDegradation(spec.degradation, rng), rng);
    const size = { width: spec.crop, height: spec.crop, channels: 3 as const };
    examples.push({ low: { ...size, data: low }, high: { ...size, data: high } });
  }
  return examples;
}

/** The error a worker reported, rebuilt with its class. */
export function rebuildError(e: { name?: string; message: string; code?: string }): Error {
  if (e.code === 'ERR_FLWNET_INVALID_INPUT') return new InvalidInputError(e.message);
  if (e.code === 'ERR_FLWNET_INVALID_OPTION') return new InvalidOptionError(e.message);
  return new FlwnetError('ERR_FLWNET_INTERNAL', `batch preparation failed: ${e.message}`);
}
