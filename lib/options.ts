/**
 * Option validation for every public entry point: one place, one error style (InvalidOptionError
 * naming the option and what it accepts). Unknown option names are rejected so typos surface.
 */
import { InvalidOptionError } from './errors';

export type DeviceOption = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
export type PrecisionOption = 'exact' | 'fast';
export type BackendOption = 'fused' | 'cudnn';
export type OutputFormat = 'jpeg' | 'png' | 'webp' | 'avif' | 'tiff' | 'gif' | 'bmp';
export type MetadataOption = 'keep' | 'strip';
export type CpuIsaOption = 'auto' | 'scalar' | 'avx2' | 'avx512';
export type CudaExactKernelOption = 'stream' | 'tile';
/** CUDA fast-mode kernel: WMMA fragments (the default) or mma.sync + ldmatrix (sm_80 or newer; WMMA elsewhere). */
export type CudaFastKernelOption = 'wmma' | 'mma';
/** CUDA global-branch V-level counting: one shared-memory atomic per pixel (the default) or warp-aggregated. */
export type CudaLevelCountsOption = 'shared' | 'warp';

export const DEFAULT_EXPOSURE = 0.4;
/** A target mean brightness in [0, 1], or 'auto': predicted from the image (lib/exposure). */
export type ExposureOption = number | 'auto';
/** Default largest image accepted, in pixels (100 megapixels, e.g. 12,000 x 8,333). */
export const DEFAULT_MAX_PIXELS = 100_000_000;
/** The largest value `maxPixels` may be raised to (2^28 pixels, e.g. 16,384 x 16,384). */
export const MAX_PIXELS_LIMIT = 2 ** 28;
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['jpeg', 'png', 'webp', 'avif', 'tiff', 'gif', 'bmp'];

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

export type CpuKernelOption = 'auto' | 'blocks' | 'rows';

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

/** An engine setting and where it came from: the option's name, or the environment variable's. */
export interface EngineSetting<T> {
  value: T;
  source: string;
}

function environmentValue(variable: string): string | undefined {
  const value = process.env[variable];
  return value === undefined || value === '' ? undefined : value;
}

/** One of `allowed`: the option when given, else the environment variable, else `fallback`. */
function checkChoice<T extends string>(
  option: string, value: unknown, variable: string, allowed: readonly T[], fallback: T,
): EngineSetting<T> {
  const fromEnv = value === undefined ? environmentValue(variable) : undefined;
  const chosen = value ?? fromEnv;
  const source = value === undefined && fromEnv !== undefined ? variable : option;
  if (chosen === undefined) return { value: fallback, source };
  if (typeof chosen === 'string' && (allowed as readonly string[]).includes(chosen)) return { value: chosen as T, source };
  const accepted = allowed.map((a) => `'${a}'`).join(', ');
  throw new InvalidOptionError(`${source} must be one of ${accepted}, got ${describe(chosen)}`);
}

/** cpuIsa, default env FLWNET_CPU_ISA, else 'auto' (the best the processor supports). */
export function checkCpuIsa(value: unknown): EngineSetting<CpuIsaOption> {
  return checkChoice('cpuIsa', value, 'FLWNET_CPU_ISA', ['auto', 'scalar', 'avx2', 'avx512'], 'auto');
}

/**
 * cpuKernel, default env FLWNET_CPU_KERNEL, else 'auto': the CPU convolutions for e1..e6 — 'blocks'
 * (2-D Winograd, what 'auto' picks where the processor has AVX2 or AVX-512) or 'rows' (the
 * previous row-wise Winograd engine, kept so `npm run bench` can compare the two).
 */
export function checkCpuKernel(value: unknown): EngineSetting<CpuKernelOption> {
  return checkChoice('cpuKernel', value, 'FLWNET_CPU_KERNEL', ['auto', 'blocks', 'rows'], 'auto');
}

/** Refuses an instruction set the processor does not run (`available`: the addon's cpuIsas). */
export function checkCpuIsaAvailable(setting: EngineSetting<CpuIsaOption>, available: readonly string[]): CpuIsaOption {
  if (setting.value !== 'auto' && !available.includes(setting.value)) {
    throw new InvalidOptionError(`${setting.source}: this processor does not run '${setting.value}' (it runs ${available.join(', ')})`);
  }
  return setting.value;
}

/** cudaExactKernel, default env FLWNET_CUDA_EXACT_KERNEL, else 'stream'. */
export function checkCudaExactKernel(value: unknown): EngineSetting<CudaExactKernelOption> {
  return checkChoice('cudaExactKernel', value, 'FLWNET_CUDA_EXACT_KERNEL', ['stream', 'tile'], 'stream');
}

/** cudaFastKernel, default env FLWNET_CUDA_FAST_KERNEL, else 'wmma'. */
export function checkCudaFastKernel(value: unknown): EngineSetting<CudaFastKernelOption> {
  return checkChoice('cudaFastKernel', value, 'FLWNET_CUDA_FAST_KERNEL', ['wmma', 'mma'], 'wmma');
}

/** cudaLevelCounts, default env FLWNET_CUDA_LEVEL_COUNTS, else 'shared'. */
export function checkCudaLevelCounts(value: unknown): EngineSetting<CudaLevelCountsOption> {
  return checkChoice('cudaLevelCounts', value, 'FLWNET_CUDA_LEVEL_COUNTS', ['shared', 'warp'], 'shared');
}

/** cpuWinograd, default env FLWNET_CPU_WINOGRAD ('0' or '1'), else true. */
export function checkCpuWinograd(value: unknown): boolean {
  if (value !== undefined) {
    if (typeof value === 'boolean') return value;
    throw new InvalidOptionError(`cpuWinograd must be a boolean, got ${describe(value)}`);
  }
  const fromEnv = environmentValue('FLWNET_CPU_WINOGRAD');
  if (fromEnv === undefined || fromEnv === '1') return true;
  if (fromEnv === '0') return false;
  throw new InvalidOptionError(`FLWNET_CPU_WINOGRAD must be '0' or '1', got ${describe(fromEnv)}`);
}

export function checkFormat(value: unknown): OutputFormat | undefined {
  if (value === undefined) return undefined;
  const name = value === 'jpg' ? 'jpeg' : value;
  if (typeof name === 'string' && (OUTPUT_FORMATS as readonly string[]).includes(name)) return name as OutputFormat;
  throw new InvalidOptionError(`format must be one of ${OUTPUT_FORMATS.join(', ')}, got ${describe(value)}`);
}

export function checkMetadata(value: unknown): MetadataOption {
  if (value === undefined) return 'keep';
  if (value === 'keep' || value === 'strip') return value;
  throw new InvalidOptionError(`metadata must be 'keep' or 'strip', got ${describe(value)}`);
}

/** An [r, g, b] colour of integers in [0, 255] (what alpha is flattened onto for JPEG output). */
export function checkBackground(value: unknown): readonly [number, number, number] | undefined {
  if (value === undefined) return undefined;
  if (Array.isArray(value) && value.length === 3 && value.every((v) => Number.isInteger(v) && v >= 0 && v <= 255)) {
    return [value[0], value[1], value[2]];
  }
  throw new InvalidOptionError(`background must be [r, g, b] with integers in [0, 255], got ${describe(value)}`);
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
