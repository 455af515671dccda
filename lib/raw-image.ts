/**
 * Raw interleaved pixels { data, width, height, channels } as the engine and the losses take them:
 * one set of checks and one error style. A canvas ImageData (Uint8ClampedArray data, no
 * `channels`) is accepted as it is: clamped bytes are read in place and a missing `channels` is
 * taken from the data's length (3 or 4 samples per pixel).
 */
import { InvalidInputError } from './errors';
import { isPlainObject } from './options';

export interface RawPixels<T extends Uint8Array | Float32Array = Uint8Array | Float32Array> {
  data: T;
  width: number;
  height: number;
  channels: 3 | 4;
}

export interface RawCheck {
  /** How messages name the image: 'raw input', 'reference image', ... */
  label: string;
  maxPixels: number;
  /** How to raise the limit, appended to the "over the limit" message. */
  limitHint?: string;
  /** Float32Array samples in [0, 1] are accepted too. */
  float?: boolean;
}

const SIDE_LIMIT = 1 << 20;

export function checkRawPixels(input: unknown, check: RawCheck & { float?: false }): RawPixels<Uint8Array>;
export function checkRawPixels(input: unknown, check: RawCheck): RawPixels;
export function checkRawPixels(input: unknown, check: RawCheck): RawPixels {
  const { label } = check;
  if (!isPlainObject(input)) throw new InvalidInputError(`${label} must be an object { data, width, height, channels }`);
  const { width, height, channels: given } = input;
  const data = sampleArray(input.data, check);
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > SIDE_LIMIT) {
      throw new InvalidInputError(`${label} ${name} must be an integer in [1, ${SIDE_LIMIT}], got ${String(value)}`);
    }
  }
  const w = width as number;
  const h = height as number;
  const unit = data instanceof Float32Array ? 'samples' : 'bytes';
  const channels = given === undefined ? channelsFromLength(data.length, w * h) : given;
  if (given === undefined && channels === undefined) {
    throw new InvalidInputError(`${label} gives no channels and its data holds ${data.length} ${unit}, neither ${w} x ${h} x 3 nor x 4`);
  }
  if (channels !== 3 && channels !== 4) throw new InvalidInputError(`${label} channels must be 3 or 4, got ${String(channels)}`);
  if (w * h > check.maxPixels) {
    const hint = check.limitHint ? ` (${check.limitHint})` : '';
    throw new InvalidInputError(`${label} is ${w} x ${h} = ${w * h} pixels, over the limit of ${check.maxPixels}${hint}`);
  }
  if (data.length !== w * h * channels) {
    throw new InvalidInputError(`${label} data holds ${data.length} ${unit} but ${w} x ${h} x ${channels} = ${w * h * channels} are needed`);
  }
  return { data, width: w, height: h, channels };
}

/** The samples as the addon reads them: Uint8ClampedArray becomes a Uint8Array view (no copy). */
function sampleArray(data: unknown, check: RawCheck): Uint8Array | Float32Array {
  if (data instanceof Uint8ClampedArray) return new Uint8Array(data.buffer, data.byteOffset, data.length);
  if (data instanceof Uint8Array || (check.float && data instanceof Float32Array)) return data;
  const accepted = check.float ? 'a Uint8Array or Float32Array (or a Uint8ClampedArray)' : 'a Uint8Array (or a Uint8ClampedArray)';
  throw new InvalidInputError(`${check.label} data must be ${accepted}`);
}

/** `channels` left out (ImageData has none): 3 or 4, whichever the length fits; else undefined. */
function channelsFromLength(length: number, pixels: number): 3 | 4 | undefined {
  if (length === pixels * 4) return 4;
  if (length === pixels * 3) return 3;
  return undefined;
}
