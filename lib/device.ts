/**
 * Which backend runs a call: one resolution of the `device` option for the engine and the losses,
 * and one CPU fallback for 'auto' when the GPU it picked then fails.
 */
import { AbortError, ClosedError, DeviceError, FlwnetError, fromNativeError, InvalidInputError, InvalidOptionError } from './errors';
import type { NativeCudaDevice, NativeModule } from './native';
import type { DeviceOption } from './options';

export interface DeviceChoice {
  kind: 'cpu' | 'cuda';
  index: number;
}

const CPU: DeviceChoice = { kind: 'cpu', index: 0 };

/**
 * 'cpu' -> the CPU; 'auto' -> the first usable GPU, else the CPU (with `gpuOnly`, a DeviceError
 * saying why there is none); 'cuda' / 'cuda:N' -> that GPU, or a DeviceError saying why not.
 */
export function chooseDevice(native: NativeModule, device: DeviceOption, gpuOnly = false): DeviceChoice {
  if (device === 'cpu') return CPU;
  if (device === 'auto') {
    const devices = cudaDevices(native, gpuOnly);
    return devices.length > 0 ? { kind: 'cuda', index: devices[0].index } : CPU;
  }
  const index = device === 'cuda' ? 0 : Number(device.slice(5));
  const devices = cudaDevices(native, true);
  if (index >= devices.length) throw new DeviceError(`${device} does not exist: ${devices.length} CUDA device(s) found`);
  return { kind: 'cuda', index };
}

/**
 * Runs `attempt` on `choice`. When 'auto' chose a GPU and the GPU fails (it cannot open, runs out
 * of memory, a driver error), warns and runs it on the CPU, which gives the same results.
 */
export async function withCpuFallback<T>(
  device: DeviceOption,
  choice: DeviceChoice,
  what: string,
  attempt: (choice: DeviceChoice) => T | Promise<T>,
): Promise<T> {
  try {
    return await attempt(choice);
  } catch (err) {
    const error = fromNativeError(err);
    if (device !== 'auto' || choice.kind !== 'cuda' || !gpuFailure(error)) throw error;
    process.emitWarning(`flwnet: the GPU is not usable (${error.message}); ${what} on the CPU`, 'FlwnetWarning');
    try {
      return await attempt(CPU);
    } catch (cpuErr) {
      throw fromNativeError(cpuErr);
    }
  }
}

/** Errors the CPU would not repeat: not a bad input or option, not an abort or a close. */
function gpuFailure(error: FlwnetError): boolean {
  return !(error instanceof InvalidInputError || error instanceof InvalidOptionError || error instanceof AbortError || error instanceof ClosedError);
}

/** The CUDA devices the addon sees; with `strict`, a DeviceError says why there are none. */
function cudaDevices(native: NativeModule, strict: boolean): NativeCudaDevice[] {
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
