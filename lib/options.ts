/**
 * Option validation for every public entry point: one place, one error style (InvalidOptionError
 * naming the option and what it accepts). Unknown option names are rejected so typos surface.
 */
import { InvalidOptionError } from './errors';

export type DeviceOption = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
export type PrecisionOption = 'exact' | 'fast';
export type BackendOption = 'fused' | 'cudnn';
export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif';

export const DEFAULT_EXPOSURE = 0.4;
/** A target mean brightness in [0, 1], or 'auto': predicted from the image (lib/exposure). */
export type ExposureOption = number | 'auto';
/** Default largest image accepted, in pixels (100 megapixels, e.g. 12,000 x 8,333). */
export const DEFAULT_MAX_PIXELS = 100_000_000;
/** The largest value `maxPixels` may be raised to (2^28 pixels, e.g. 16,384 x 16,384). */
export const MAX_PIXELS_LIMIT = 2 ** 28;
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['jpeg', 'png', 'webp', 'avif', 'tiff', 'gif'];

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value);
}

/** Checks `options` is undefined or a plain object whose keys are all in `allowed`. */
export function checkOptionKeys(where: string, options: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) throw new InvalidOptionError(`${where}: options must be an object`);
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw new InvalidOptionError(`${where}: unknown option "${key}" (accepted: ${allowed.join(', ')})`);
    }
  }
  return options;
}

export function checkExposure(value: unknown): ExposureOption {
  if (value === undefined) return DEFAULT_EXPOSURE;
  if (value === 'auto') return value;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > 1) {
    throw new InvalidOptionError(`exposure must be 'auto' or a finite number in [0, 1], got ${describe(value)}`);
  }
  return value;
}

export function checkDevice(value: unknown): DeviceOption {
  if (value === undefined) return 'auto';
  if (value === 'auto' || value === 'cpu' || value === 'cuda') return value;
  if (typeof value === 'string' && /^cuda:(0|[1-9][0-9]{0,2})$/.test(value)) return value as DeviceOption;
  throw new InvalidOptionError(`device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got ${describe(value)}`);
}

export function checkPrecision(value: unknown): PrecisionOption {
  if (value === undefined) return 'exact';
  if (value === 'exact' || value === 'fast') return value;
  throw new InvalidOptionError(`precision must be 'exact' or 'fast', got ${describe(value)}`);
}

export function checkBackend(value: unknown): BackendOption {
  if (value === undefined) return 'fused';
  if (value === 'fused' || value === 'cudnn') return value;
  throw new InvalidOptionError(`backend must be 'fused' or 'cudnn', got ${describe(value)}`);
}

/** An integer in [min, max], or `fallback` when undefined. */
export function checkInteger(name: string, value: unknown, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(`${name} must be an integer in [${min}, ${max}], got ${describe(value)}`);
  }
  return value;
}

export function checkFormat(value: unknown): OutputFormat | undefined {
  if (value === undefined) return undefined;
  const name = value === 'jpg' ? 'jpeg' : value;
  if (typeof name === 'string' && (OUTPUT_FORMATS as readonly string[]).includes(name)) return name as OutputFormat;
  throw new InvalidOptionError(`format must be one of ${OUTPUT_FORMATS.join(', ')}, got ${describe(value)}`);
}

export function checkSignal(value: unknown): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (value instanceof AbortSignal) return value;
  throw new InvalidOptionError(`signal must be an AbortSignal, got ${describe(value)}`);
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  return Array.isArray(value) ? 'an array' : `a ${typeof value === 'object' ? (value.constructor?.name ?? 'object') : typeof value}`;
}
